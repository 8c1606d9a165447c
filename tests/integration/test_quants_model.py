"""Every tensor llama.cpp quantizes in a real model (SmolLM2, Q4_K_M with an importance matrix) is byte-identical
to what converter.quants writes for the same F32 rows and importance."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader

from converter import quants

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_q4_k_m_with_imatrix_tensors_match_llama_cpp(smollm2_f32_gguf, tmp_path):
    from tests.fixtures.llama import quantize_with_llama_cpp

    source = {t.name: t for t in GGUFReader(smollm2_f32_gguf).tensors}
    rng = np.random.default_rng(0)
    imatrix = {}
    for name, t in source.items():
        if name.endswith(".weight") and len(t.shape) == 2:
            values = rng.gamma(1.0, 1.0, int(t.shape[0])).astype(np.float32)
            values[::13] = 0
            imatrix[name] = values
    out = tmp_path / "q4_k_m.gguf"
    quantize_with_llama_cpp(smollm2_f32_gguf, out, "Q4_K_M", threads=2, imatrix=imatrix)

    seen: dict[str, int] = {}
    for t in GGUFReader(out).tensors:
        qtype = GGMLQuantizationType(t.tensor_type)
        if qtype == GGMLQuantizationType.F32:
            continue
        rows = np.asarray(source[t.name].data, dtype=np.float32)
        rows = rows.reshape(-1, rows.shape[-1])
        ours = quants.quantize(rows, qtype, imatrix=imatrix.get(t.name))
        assert np.array_equal(ours, np.asarray(t.data).reshape(ours.shape)), f"{t.name} ({qtype.name}) differs"
        seen[qtype.name] = seen.get(qtype.name, 0) + 1
    assert {"Q4_K", "Q6_K"} <= set(seen), seen
