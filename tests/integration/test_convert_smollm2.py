"""Convert the SmolLM2 Hugging Face fixture and check the result with llama.cpp itself.

* tokenization of mixed text (code, digits, accents, emoji, chat special tokens) equals the source GGUF's;
* the chat template and special tokens survive;
* our F16 file's logits match the source model's (mean KL divergence < 1e-3). The reference is the source
  model's weights in F32 (``smollm2_f32_gguf``, dequantized by llama.cpp): the Q4_1 source file itself cannot be
  the reference because llama.cpp quantizes activations to Q8_1 in its Q4_1 matmuls, which alone gives a KL of
  about 2e-3 against any float version of the same weights;
* Q8_0 written by our converter is byte-identical (types and data) to llama.cpp quantizing our F32 file to Q8_0.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from converter.convert import convert
from converter.gguf_in import read_gguf, read_tensor_bytes

pytestmark = pytest.mark.integration

MIXED_TEXT = (
    "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n"
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)  # 0x1F, 3.14159, 1234567\n"
    "Crème brûlée à São Paulo, naïve Übermaß, ¿qué tal? 東京 🚀😶‍🌫️ 👍🏽<|im_end|>\n<|im_start|>assistant\n"
)
KL_TOKENS = 160


@pytest.fixture(scope="module")
def converted(smollm2_hf, tmp_path_factory):
    out = tmp_path_factory.mktemp("smollm2")
    return {t: convert(smollm2_hf, out / f"smollm2-{t}.gguf", t).path for t in ("f16", "f32", "q8_0")}


def _llama(path, **kw):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no OpenMP spinning on a shared 2-core machine
    from llama_cpp import Llama

    from app.runtime.llama.log import install_log_handler

    install_log_handler()
    return Llama(model_path=str(path), n_threads=2, n_ctx=256, verbose=False, **kw)


def test_tokenization_and_template_match_source(converted, smollm2_gguf):
    ours, src = _llama(converted["f16"], vocab_only=True), _llama(smollm2_gguf, vocab_only=True)
    text = MIXED_TEXT.encode()
    ids = ours.tokenize(text, add_bos=True, special=True)
    assert ids == src.tokenize(text, add_bos=True, special=True)
    assert ids.count(1) == 3 and ids.count(2) == 2  # <|im_start|>/<|im_end|> are single special tokens
    assert ours.tokenize(text, add_bos=False, special=False) == src.tokenize(text, add_bos=False, special=False)
    assert ours.detokenize(ids) == src.detokenize(ids)
    for key in ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.pre"):
        assert ours.metadata.get(key) == src.metadata.get(key), key
    assert ours.token_eos() == src.token_eos() == 2


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def _logits(path, tokens) -> np.ndarray:
    m = _llama(path, logits_all=True)
    m.eval(tokens)
    out = np.array(m.scores[: len(tokens)], dtype=np.float64)
    m.close()
    return out


def test_f16_logits_match_source(converted, smollm2_f32_gguf):
    vocab = _llama(converted["f16"], vocab_only=True)
    tokens = vocab.tokenize((MIXED_TEXT * 4).encode(), add_bos=False, special=True)[:KL_TOKENS]
    assert len(tokens) == KL_TOKENS
    ref, ours = _log_softmax(_logits(smollm2_f32_gguf, tokens)), _log_softmax(_logits(converted["f16"], tokens))
    kl = (np.exp(ref) * (ref - ours)).sum(axis=1)
    assert kl.mean() < 1e-3, f"mean KL {kl.mean():.2e}"
    assert (ref.argmax(1) == ours.argmax(1)).mean() > 0.97


def test_q8_0_is_byte_identical_to_llama_cpp(converted, tmp_path):
    from tests.fixtures.llama import quantize_with_llama_cpp

    theirs_path = tmp_path / "llama-q8_0.gguf"
    quantize_with_llama_cpp(converted["f32"], theirs_path, "Q8_0", threads=2)
    ours, theirs = read_gguf(converted["q8_0"]), read_gguf(theirs_path)
    assert ours.get("general.file_type") == theirs.get("general.file_type") == 7
    # llama.cpp writes the tensors in its own order, so compare by name
    assert sorted((t.name, t.qtype, t.ne) for t in ours.tensors) == sorted(
        (t.name, t.qtype, t.ne) for t in theirs.tensors)
    for a in ours.tensors:
        assert np.array_equal(read_tensor_bytes(ours, a), read_tensor_bytes(theirs, theirs.tensor(a.name))), a.name
