"""Every supported architecture end to end: tiny random HF checkpoint -> Kompakt GGUF -> llama.cpp logits.

The logits llama.cpp computes from our F32 file must equal those of a NumPy re-implementation of the Hugging Face
model (tests/fixtures/reference_forward.py) run on the original weights: a missing norm shift, a wrong RoPE layout
or base, a sliding-window pattern or soft-cap that llama.cpp does not see, a mis-split fused tensor... each moves
the logits by far more than the tolerance (checked by mutating the reference config: 3e-3 to 0.9 relative).

llama.cpp runs with an F32 KV cache and without flash attention so that only float32 rounding separates it from
the reference; GELU goes through ggml's float16 table on CPU, which the reference emulates.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.reference_forward import forward
from tests.fixtures.tiny_models import ARCHITECTURES, read_tiny_checkpoint, tiny_model

pytestmark = pytest.mark.integration

BPE_ARCHS = ("llama", "qwen2", "qwen3")
TOKENS = [1, 5, 9, 20, 33, 7, 8, 100, 3, 4, 5, 6, 44, 45, 46, 47]  # 16 > the Gemma 2/3 window of 8
N_CTX = 64  # > Phi-3's original context of 32: llama.cpp uses the long LongRoPE factors
TEXT = "the model fits in memory, 3.14 water"


def _load(path):
    import llama_cpp

    from app.runtime.llama.log import install_log_handler

    install_log_handler()
    return llama_cpp.Llama(str(path), n_ctx=N_CTX, n_batch=N_CTX, n_threads=2, n_threads_batch=2,
                           logits_all=True, verbose=False, flash_attn=False,
                           type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)


def _logits(llm, tokens):
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[:len(tokens)], dtype=np.float32)


def _rel_err(got, ref):
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("arch", ARCHITECTURES + ("gemma3-multimodal",))
def test_tiny_model_logits_match_reference(arch, tmp_path, smollm2_hf):
    from converter.convert import convert

    multimodal = arch.endswith("-multimodal")
    arch = arch.removesuffix("-multimodal")
    model_dir = tiny_model("gemma3-multimodal" if multimodal else arch, tmp_path / "hf", smollm2_dir=smollm2_hf)
    out = tmp_path / f"{arch}.gguf"
    convert(model_dir, out, "f32")

    config, weights = read_tiny_checkpoint(model_dir)
    llm = _load(out)
    try:
        got = _logits(llm, TOKENS)
        n_vocab = llm.n_vocab()
        assert n_vocab == config.get("vocab_size", 384)  # the multimodal Gemma 3 has 32 spare embedding rows
        assert got.shape == (len(TOKENS), n_vocab)
        assert np.isfinite(got).all()
        ref = forward(config, weights, TOKENS, n_ctx=N_CTX, ggml_gelu=True)[:, :n_vocab]
        assert _rel_err(got, ref) < 1e-3

        if arch not in BPE_ARCHS:  # llama.cpp tokenizes like the sentencepiece library
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
            assert llm.tokenize(TEXT.encode(), add_bos=False, special=False) == sp.encode(TEXT)
    finally:
        llm.close()


def test_large_rows_f16_matches_reference(tmp_path, smollm2_hf):
    """Rows of 256/512 values (K-quant block multiples) stored as F16: close to the reference at F16 precision."""
    from converter.convert import convert

    model_dir = tiny_model("qwen3-wide", tmp_path / "hf", smollm2_dir=smollm2_hf)
    out = tmp_path / "qwen3-f16.gguf"
    convert(model_dir, out, "f16")
    config, weights = read_tiny_checkpoint(model_dir)
    weights = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 else v) for k, v in weights.items()}
    llm = _load(out)
    try:
        got = _logits(llm, TOKENS[:8])
    finally:
        llm.close()
    assert got.shape == (8, config["vocab_size"]) and np.isfinite(got).all()
    assert _rel_err(got, forward(config, weights, TOKENS[:8])) < 1e-2
