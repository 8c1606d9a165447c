"""The wizard's job without widgets: several types through a temporary F16 file with an importance matrix."""

from __future__ import annotations

import logging

import pytest

from app.runtime.workflows.pipeline import QuantizePlan, plan_outputs, run_plan
from app.runtime import paths
from app.runtime.errors import JobError
from app.runtime.workflows.process_job import run_in_process
from app.runtime.sources import LocalFolder, LocalGGUF
from converter.gguf_in import read_gguf
from converter.core.progress import CancelToken, Cancelled

CALIBRATION = "The quick brown fox jumps over the lazy dog. " * 40


@pytest.mark.integration
@pytest.mark.slow
def test_two_types_with_imatrix_and_no_leftovers(tmp_path, smollm2_hf):
    plan = QuantizePlan(LocalFolder(smollm2_hf), ["Q4_K_M", "Q3_K_M"], tmp_path / "out", calibration=CALIBRATION,
                        threads=2)
    stages = set()
    result = run_plan(plan, progress=lambda p: stages.add(p.stage.split(": ", 1)[-1].split(" ")[0]))
    assert set(result.files) == {"Q4_K_M", "Q3_K_M"}
    for mix, path in result.files.items():
        assert path.exists() and path.name.endswith(f"-{mix}.gguf")
        assert read_gguf(path).get("general.file_type") == {"Q4_K_M": 15, "Q3_K_M": 12}[mix]
    assert {"convert", "quantize"} <= stages
    assert not list((paths.cache_dir() / "work").glob("*.gguf"))  # the F16 intermediate is gone


def test_cancel_before_start_writes_nothing(tmp_path, smollm2_gguf):
    token = CancelToken()
    token.cancel()
    plan = QuantizePlan(LocalGGUF(smollm2_gguf), ["Q8_0"], tmp_path / "out")
    with pytest.raises(Cancelled):
        run_plan(plan, cancel=token)
    assert not any((tmp_path / "out").iterdir())
    assert plan_outputs(plan)["Q8_0"].name == f"{smollm2_gguf.stem}-Q8_0.gguf"


def _fails(*, progress, cancel):  # noqa: ARG001 - the job contract
    logging.getLogger("kompakt.child").info("working in the child")
    raise OSError("/x/y.gguf: disk on fire\nsecond line")


def test_a_failed_child_job_is_one_line_and_its_log_comes_back(caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(JobError, match=r"^/x/y\.gguf: disk on fire$"):
        run_in_process(_fails)
    messages = [r.getMessage() for r in caplog.records]
    assert "working in the child" in messages, messages
    assert any("_fails failed" in m and "Traceback" in m and "second line" in m for m in messages), messages
