"""The table of ggml types and mixes against llama.cpp's own ids (llama_cpp's constants) and gguf's file types."""

from __future__ import annotations

import gguf
import llama_cpp

from converter.core.quant_types import DEFAULT_MIX, KV_CACHE_OFFERED, KV_CACHE_TYPES, MIXES, OFFERED_MIXES, QType


def test_mix_ftype_ids_are_llama_cpps():
    for mix in MIXES.values():
        prefix = "LLAMA_FTYPE_ALL_" if mix.name == "F32" else "LLAMA_FTYPE_MOSTLY_"
        assert mix.ftype == getattr(llama_cpp, prefix + mix.name), mix.name
        assert mix.ftype == gguf.LlamaFileType[prefix[len("LLAMA_FTYPE_"):] + mix.name], mix.name


def test_ggml_type_ids_are_llama_cpps():
    # llama_cpp's Python constants lack a few types (BF16, TQ1_0, TQ2_0); the others must agree
    theirs = {n[len("GGML_TYPE_"):]: v for n, v in vars(llama_cpp).items()
              if n.startswith("GGML_TYPE_") and n != "GGML_TYPE_COUNT"}
    shared = theirs.keys() & QType.__members__.keys()
    assert len(shared) >= len(QType) - 3
    for name in shared:
        assert int(QType[name]) == theirs[name], name


def test_mix_default_type_is_in_its_name():
    for mix in MIXES.values():
        base = mix.name[:4] if mix.name.startswith("Q") and mix.name[3] == "K" else mix.name
        assert mix.default.name == base, mix.name


def test_lists_derived_from_the_table():
    # llama.cpp's --cache-type-k/-v list (common/arg.cpp kv_cache_types)
    assert set(KV_CACHE_TYPES) == {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"}
    assert KV_CACHE_OFFERED == ("f16", "q8_0", "q4_0")
    assert set(KV_CACHE_OFFERED) <= set(KV_CACHE_TYPES)
    assert DEFAULT_MIX.name in OFFERED_MIXES
    costs = [MIXES[m].typical_ppl_cost for m in OFFERED_MIXES]
    assert costs == sorted(costs, reverse=True)  # smallest (costliest) first
