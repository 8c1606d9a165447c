"""Our quantizers write exactly the bytes of llama.cpp's ``ggml_quantize_chunk``, with and without imatrix."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as T

from converter import quants
from tests.fixtures.quant_inputs import importance, real_rows, synthetic_cases

pytestmark = pytest.mark.integration  # the oracle is llama.cpp's libggml-base

K_TYPES = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
LEGACY_TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
ALL_TYPES = K_TYPES + LEGACY_TYPES
CASES = synthetic_cases(512)


def _oracle(rows, qtype, imatrix):
    from tests.fixtures.ggml_oracle import ggml_quantize

    return ggml_quantize(rows, qtype, imatrix)


def _assert_same(rows: np.ndarray, qtype: T, imatrix) -> None:
    ours = quants.quantize(rows, qtype, imatrix=imatrix)
    ref = _oracle(rows, qtype, imatrix)
    assert ours.shape == ref.shape
    if not np.array_equal(ours, ref):
        bs = GGML_QUANT_SIZES[qtype][1]
        bad = np.nonzero((ours != ref).reshape(-1, bs).any(axis=1))[0]
        pytest.fail(f"{qtype.name}: {bad.size} of {ours.size // bs} blocks differ, first {bad[:8].tolist()}")


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_synthetic_matches_llama_cpp(qtype, case, use_imatrix):
    rows = CASES[case]
    _assert_same(rows, qtype, importance(rows.shape[1]) if use_imatrix else None)


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_real_ffn_down_rows_match_llama_cpp(smollm2_f32_gguf, qtype, use_imatrix):
    rows = real_rows(str(smollm2_f32_gguf), "blk.0.ffn_down.weight", 6)
    _assert_same(rows, qtype, importance(rows.shape[1], seed=3) if use_imatrix else None)


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", LEGACY_TYPES, ids=lambda t: t.name)
def test_real_token_embd_rows_match_llama_cpp(smollm2_f32_gguf, qtype, use_imatrix):
    rows = real_rows(str(smollm2_f32_gguf), "token_embd.weight", 5)  # rows of 576 = 18 blocks of 32
    _assert_same(rows, qtype, importance(rows.shape[1], seed=5) if use_imatrix else None)


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_imatrix_all_zero_and_uniform(qtype):
    rows = CASES["student_t_7rows"]
    _assert_same(rows, qtype, np.zeros(rows.shape[1], np.float32))
    _assert_same(rows, qtype, np.ones(rows.shape[1], np.float32))


@pytest.mark.parametrize("case", sorted(CASES))
def test_float_types_match_llama_cpp(case):
    for qtype in (T.F32, T.F16, T.BF16):
        _assert_same(CASES[case], qtype, None)


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_chunks_that_cross_rows_match_llama_cpp(monkeypatch, smollm2_f32_gguf, qtype, use_imatrix):
    """Chunks of 5 blocks split rows mid-way: the importance weights must still line up with the columns."""
    from converter.quants import legacy, q2_k, q3_k, q4_k, q5_k, q6_k

    for module in (legacy, q2_k, q3_k, q4_k, q5_k, q6_k):
        for name in ("CHUNK", "CHUNK_PLAIN", "CHUNK_IMATRIX"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, 5)
    rows = real_rows(str(smollm2_f32_gguf), "blk.0.ffn_down.weight", 6)[:3]
    _assert_same(rows, qtype, importance(rows.shape[1], seed=11) if use_imatrix else None)


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_a_single_block_matches_llama_cpp(qtype, use_imatrix):
    """One block: every per-block array has a single column, where NumPy would sum pairwise (not in C's order)
    and the fused sums need their fallback."""
    block = GGML_QUANT_SIZES[qtype][0]
    rows = (np.random.default_rng(21).standard_t(3, size=(1, block)) * 0.05).astype(np.float32)
    _assert_same(rows, qtype, importance(block, seed=13) if use_imatrix else None)
