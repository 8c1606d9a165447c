"""Our mix rules (``plan_types``) against llama.cpp's own choice, for every mix, on synthetic GGUFs shaped to reach
the rules SmolLM2 never does: MoE (8 experts, and 4, where the layer comes from the name), 80-layer "70B" and
"65B" models, fused QKV (Phi-3, Falcon), GQA >= 4, tied embeddings, rows that fit no 256- or 32-weight block.

llama.cpp decides through ``llama_model_quantize``'s dry run (tests/fixtures/llama_types.py), with and without an
importance matrix (which switches the Q4_0/Q5_0 ffn_down guard) and with user overrides.
"""

from pathlib import Path

import pytest

from converter.core.quant_types import MIXES
from converter.mixes import Override
from tests.fixtures.dry_run import RULES_MODELS, RulesModel, planned_types, write_rules_model
from tests.fixtures.llama_types import llama_tensor_types

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rules")


def model_file(rules_dir: Path, model: RulesModel) -> Path:
    path = rules_dir / f"{model.name}.gguf"
    return path if path.is_file() else write_rules_model(path, model)


def differences(ours: dict, ref: dict) -> list[str]:
    assert set(ours) == set(ref)
    return [f"{name}: ours {ours[name].name}, llama.cpp {t.name}" for name, t in ref.items() if ours[name] != t]


@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("model", RULES_MODELS, ids=lambda m: m.name)
def test_every_mix_picks_llama_cpp_types(rules_dir, model, with_imatrix):
    path = model_file(rules_dir, model)
    wrong = {}
    for mix in MIXES:
        ref = llama_tensor_types(path, mix, with_imatrix=with_imatrix)
        bad = differences(planned_types(path, mix, has_imatrix=with_imatrix), ref)
        if bad:
            wrong[mix] = bad[:3] + ([f"... {len(bad)} in all"] if len(bad) > 3 else [])
    assert not wrong, wrong


OVERRIDES = [
    {r"blk\.0\.attn_v": "q8_0"},  # an overridden attn_v is not counted: the "more bits" layers shift
    {"attn_q": "q8_0", "output": "q5_k", "ffn_down": "q2_k"},
    {"attn_q": "q6_k", "norm": "q8_0"},  # a K type on rows it does not fit falls back; norms stay F32
    {"ffn_.*_exps": "q4_0", "attn_k": "q3_k"},
]


@pytest.mark.parametrize("overrides", OVERRIDES, ids=lambda o: ",".join(o))
@pytest.mark.parametrize("model", [m for m in RULES_MODELS if m.name in ("gqa-4", "mixtral-8-experts",
                                                                          "odd-widths")], ids=lambda m: m.name)
@pytest.mark.parametrize("mix", ["Q4_K_M", "Q2_K", "F16"])
def test_overrides_pick_llama_cpp_types(rules_dir, model, overrides, mix):
    path = model_file(rules_dir, model)
    ours = planned_types(path, mix, overrides=[Override.parse(f"{k}={v}") for k, v in overrides.items()])
    assert not differences(ours, llama_tensor_types(path, mix, overrides=overrides))
