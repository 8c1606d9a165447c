"""converter.quants without llama.cpp: input checks, our dequantizers against gguf's, round-trip error."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

from converter import quants
from converter.core.quant_types import QType
from converter.errors import QuantizationError
from tests.fixtures.quant_inputs import importance, synthetic_cases

TYPES = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
# relative RMS error bound of a round trip on student-t weights, per type
MAX_REL_RMSE = {T.Q2_K: 0.42, T.Q3_K: 0.22, T.Q4_K: 0.13, T.Q5_K: 0.07, T.Q6_K: 0.04,
                T.Q4_0: 0.17, T.Q4_1: 0.15, T.Q5_0: 0.10, T.Q5_1: 0.07, T.Q8_0: 0.014}


@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_all_types_are_ours(qtype):
    assert qtype in quants._QUANTIZERS


def test_own_type_table_matches_gguf():
    from gguf import GGML_QUANT_SIZES

    from converter.core.quant_types import QType

    assert [q.name for q in QType] == [t.name for t in T]  # every ggml type gguf knows, no other
    for q in QType:
        assert int(T[q.name]) == int(q), q.name
        assert (q.block_elements, q.block_bytes) == GGML_QUANT_SIZES[T[q.name]], q.name
        assert q == T[q.name] and hash(q) == hash(T[q.name])  # either enum works as a key
        assert QType(T[q.name]) is q and QType.parse(q.name.lower()) is q


def test_workers_do_not_import_gguf():
    """A worker imports only NumPy and the quantizers (gguf would add ~0.1 s to every worker start)."""
    import subprocess
    import sys

    code = ("import sys, converter.quant_worker as w; "
            "w.run_job(w.Job(w.ArrayRows(__import__('numpy').ones((2, 256), 'float32'), 0, 256), ((12, None),))); "
            "print('gguf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_nan_and_inf_are_rejected(qtype, bad):
    rows = np.ones((2, 256), np.float32)
    rows[1, 100] = bad
    with pytest.raises(QuantizationError, match="NaN or Inf"):
        quants.quantize(rows, qtype)


@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_bad_shapes_are_rejected(qtype):
    with pytest.raises(QuantizationError):
        quants.quantize(np.ones((2, 250), np.float32), qtype)
    with pytest.raises(QuantizationError):
        quants.quantize(np.ones(256, np.float32), qtype)
    with pytest.raises(QuantizationError, match="importance"):
        quants.quantize(np.ones((2, 256), np.float32), qtype, imatrix=np.ones(255, np.float32))


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_gguf_dequantizes_our_bytes_like_we_do(qtype, use_imatrix):
    for name in ("student_t_7rows", "outlier", "signed_zeros", "negative_only"):
        rows = synthetic_cases(512)[name]
        raw = quants.quantize(rows, qtype, imatrix=importance(512) if use_imatrix else None)
        ours = quants.dequantize(raw, qtype, 512)
        theirs = gguf_dequantize(raw, qtype).astype(np.float32).reshape(ours.shape)
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{qtype.name} {name}")


@pytest.mark.parametrize("use_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_round_trip_error_is_small(qtype, use_imatrix):
    rows = synthetic_cases(512)["student_t_7rows"]
    raw = quants.quantize(rows, qtype, imatrix=np.ones(512, np.float32) if use_imatrix else None)
    back = quants.dequantize(raw, qtype, 512)
    rel = np.sqrt(np.mean((back - rows) ** 2) / np.mean(rows ** 2))
    assert rel < MAX_REL_RMSE[qtype]
    assert raw.shape == (7, QType(qtype).row_bytes(512))


def test_zero_rows_round_trip_to_zero():
    for qtype in TYPES:
        raw = quants.quantize(np.zeros((1, 256), np.float32), qtype)
        assert not quants.dequantize(raw, qtype, 256).any()
