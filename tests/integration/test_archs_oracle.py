"""Qwen3-MoE, Mixtral, SmolLM3, OLMo 2/3, Mistral 3, LFM2, LFM2-MoE, Qwen3.5 (dense, MoE): our F32 and BF16
GGUFs equal what llama.cpp's own converter writes.

The expected digests (tests/data/oracle/<arch>.json) were produced by ``convert_hf_to_gguf.py`` of the pinned
llama-cpp-python sdist, run by ``packaging/tools/oracle_convert_digests.py`` on the same tiny checkpoints
(tests/fixtures/oracle_models.py). Every tensor must have the same name, type, shape and bytes, every metadata
key the same type and value, and so the whole file is the same, byte for byte. Then llama.cpp loads each of our
files and decodes a few tokens, and the mixtures of experts and the newer dense and hybrid models quantize (from
our F32, or in one pass from the checkpoint) to the same file, byte for byte, as ``llama_model_quantize`` makes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.gguf_digest import file_sha256, gguf_digest
from tests.fixtures.oracle_models import BPE_ARCHS, ORACLE_ARCHS, make_oracle_checkpoint

pytestmark = pytest.mark.integration

ORACLE_DIR = Path(__file__).resolve().parents[1] / "data" / "oracle"


def _oracle(arch: str) -> dict:
    return json.loads((ORACLE_DIR / f"{arch}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, smollm2_hf):
    root = tmp_path_factory.mktemp("oracle-models")
    return {arch: make_oracle_checkpoint(arch, root / arch, smollm2_dir=smollm2_hf if arch in BPE_ARCHS else None)
            for arch in ORACLE_ARCHS}


@pytest.fixture(scope="module")
def converted(checkpoints, tmp_path_factory):
    """(arch, out_type) -> our GGUF of that checkpoint, converted on first use and shared by the tests."""
    from converter.convert import convert

    root = tmp_path_factory.mktemp("oracle-ours")
    done: dict[tuple[str, str], Path] = {}

    def get(arch: str, out_type: str) -> Path:
        if (arch, out_type) not in done:
            out = root / f"{arch}-{out_type}.gguf"
            convert(checkpoints[arch], out, out_type)
            done[arch, out_type] = out
        return done[arch, out_type]

    return get


@pytest.mark.parametrize("out_type", ["f32", "bf16"])
@pytest.mark.parametrize("arch", ORACLE_ARCHS)
def test_conversion_equals_llama_cpp_converter(arch, out_type, checkpoints, converted):
    oracle = _oracle(arch)
    inputs = {p.name: file_sha256(p) for p in sorted(checkpoints[arch].iterdir())}
    assert inputs == oracle["inputs"], "the tiny checkpoint changed: regenerate tests/data/oracle"

    ours, theirs = gguf_digest(converted(arch, out_type)), oracle[out_type]
    assert ours["order"] == theirs["order"]
    assert ours["tensors"] == theirs["tensors"]
    differing = {key: (ours["metadata"].get(key), theirs["metadata"].get(key))
                 for key in set(ours["metadata"]) | set(theirs["metadata"])
                 if ours["metadata"].get(key) != theirs["metadata"].get(key)}
    assert not differing
    # and the whole file: key order, alignment and padding too
    assert file_sha256(converted(arch, out_type)) == theirs["file_sha256"]


@pytest.mark.parametrize("arch", ORACLE_ARCHS)
def test_llama_cpp_loads_and_decodes(arch, converted):
    from app.runtime.llama.context import ContextOptions
    from app.runtime.llama.model import open_model

    tokens = np.array([1, 5, 9, 20, 33, 7, 8, 100], dtype=np.int32)
    with open_model(converted(arch, "f32")) as model:
        ctx = model.new_context(ContextOptions(n_ctx=64, n_threads=2, n_batch=64))
        ctx.batch.fill(tokens, outputs="all")
        ctx.decode()
        logits = ctx.logits(len(tokens), model.n_vocab)
    assert logits.shape == (len(tokens), model.n_vocab)
    assert np.isfinite(logits).all() and logits.astype(np.float64).std() > 0  # float32 squares can overflow


def _same_quantized_file(ours: Path, ref: Path) -> None:
    from converter.gguf_in import read_gguf

    a, b = read_gguf(ours), read_gguf(ref)
    assert [(t.name, t.ne, t.qtype.name) for t in a.tensors] == [(t.name, t.ne, t.qtype.name) for t in b.tensors]
    assert ours.read_bytes() == ref.read_bytes()


#: Experts, routers, convolution kernels and DeltaNet tensors in three mixes; the dense Mistral 3 in Q4_K_M.
QUANTIZED = [(arch, mix) for arch in ("qwen3moe", "mixtral", "lfm2", "lfm2moe", "qwen35", "qwen35moe")
             for mix in ("Q4_K_M", "Q2_K", "Q6_K")] + [("mistral3", "Q4_K_M")]


@pytest.mark.parametrize(("arch", "mix"), QUANTIZED)
def test_quantization_equals_llama_quantize(arch, mix, converted, tmp_path):
    """Expert tensors (3-D ffn_*_exps), routers and every other tensor get llama.cpp's types and bytes."""
    from converter.quantize import quantize_gguf
    from tests.fixtures.llama import quantize_with_llama_cpp

    f32 = converted(arch, "f32")
    ours = quantize_gguf(f32, tmp_path / "ours.gguf", mix, threads=2)
    quantize_with_llama_cpp(f32, tmp_path / "ref.gguf", mix, threads=2)
    _same_quantized_file(ours, tmp_path / "ref.gguf")


@pytest.mark.parametrize("arch", ["qwen3moe", "lfm2", "qwen35moe"])
def test_one_pass_convert_equals_llama_quantize(arch, checkpoints, converted, tmp_path):
    from converter.convert import convert
    from tests.fixtures.llama import quantize_with_llama_cpp

    quantize_with_llama_cpp(converted(arch, "f32"), tmp_path / "ref.gguf", "Q4_K_M", threads=2)
    ours = convert(checkpoints[arch], tmp_path / "ours.gguf", "q4_k_m").path
    _same_quantized_file(ours, tmp_path / "ref.gguf")
