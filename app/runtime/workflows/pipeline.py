"""What the Quantize wizard runs: download (Hub), convert, optional importance matrix, quantize, optional quality.

Plain Python (no Qt): :func:`run_plan` is one long job with the converter's ``progress=``/``cancel=`` convention,
so the GUI runs it on a :class:`app.gui.workers.Worker` and tests can call it directly. Every output is written
atomically by the converter; the intermediate F16 file (only made for several types or an importance matrix)
lives in the cache directory and is always removed, so a cancel or an error leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from app.runtime.workflows.gguf_files import convert_checkpoint
from app.runtime.workflows.quantize import make_imatrix, mix_names, output_paths, output_stem, quantize_file
from converter.core.messages import one_line
from converter.core.progress import CancelToken, Progress, ProgressCallback, check, emit

log = logging.getLogger(__name__)

@dataclass
class QuantizePlan:
    """Everything the wizard collected."""

    source: object  # app.runtime.sources.LocalFolder | LocalGGUF | HubRepo
    mixes: list[str]
    out_dir: Path
    calibration: Optional[str] = None  # text for an importance matrix; None: no imatrix
    measure_quality: bool = False
    threads: Optional[int] = None
    name: str = ""  # file name stem; default from the source


@dataclass
class PlanResult:
    """What :func:`run_plan` produced."""

    files: dict[str, Path]  # mix -> file
    quality: dict[str, object] = field(default_factory=dict)  # mix -> evaluate.CandidateResult, when measured
    quality_error: str = ""


def source_name(source: object) -> str:
    """The stem of ``source``'s output files: the repo name, the folder name or the GGUF's stem, file-name-safe."""
    from app.runtime.sources import HubRepo

    raw = source.repo_id.split("/")[-1] if isinstance(source, HubRepo) else Path(source.path).stem  # type: ignore
    return output_stem(raw)


def plan_outputs(plan: QuantizePlan) -> dict[str, Path]:
    """Where each mix of ``plan`` goes: ``<out_dir>/<name>-<MIX>.gguf`` (see :func:`output_paths`)."""
    return output_paths(plan.name or source_name(plan.source), mix_names(plan.mixes), plan.out_dir, is_dir=True)


def _staged(progress: Optional[ProgressCallback], prefix: str) -> Optional[ProgressCallback]:
    """Prefix every report's stage with ``prefix`` (e.g. "Step 2/3: ")."""
    if progress is None:
        return None

    def report(p: Progress) -> None:
        progress(Progress(f"{prefix}{p.stage}", p.done, p.total, p.unit, p.item, p.started))
    return report


def run_plan(plan: QuantizePlan, *, progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelToken] = None) -> PlanResult:
    """Run the whole plan; raises ConverterError/HubError subclasses on bad input and Cancelled on cancel."""
    from app.runtime.sources import HubRepo, LocalFolder, LocalGGUF

    outputs = plan_outputs(plan)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    source = plan.source
    steps = (["download"] if isinstance(source, HubRepo) else []) + ["quantize"] + (
        ["quality"] if plan.measure_quality else [])
    step = iter(range(1, len(steps) + 1))

    def prefix() -> str:
        return f"Step {next(step)}/{len(steps)}: "

    if isinstance(source, HubRepo):
        from app.runtime.hub import download_model

        folder = download_model(source.repo_id, source.revision, progress=_staged(progress, prefix()), cancel=cancel)
        source = LocalFolder(folder)
    check(cancel)
    staged = _staged(progress, prefix())
    result = PlanResult(files=outputs)
    if isinstance(source, LocalGGUF):
        quantize_file(Path(source.path), outputs, threads=plan.threads, progress=staged, cancel=cancel)
        if plan.measure_quality:
            _measure(result, Path(source.path), plan, _staged(progress, prefix()), cancel)
    elif len(outputs) == 1 and plan.calibration is None and not plan.measure_quality:
        ((mix, path),) = outputs.items()
        convert_checkpoint(source.path, path, mix, progress=staged, cancel=cancel)
    else:
        _via_f16(Path(source.path), result, plan, staged, cancel,
                 _staged(progress, prefix()) if plan.measure_quality else None)
    return result


def _via_f16(folder: Path, result: PlanResult, plan: QuantizePlan, progress, cancel, quality_progress) -> None:
    """Convert once to a temporary F16 GGUF, compute the importance matrix on it if asked, quantize every mix,
    and measure quality against the F16 file if asked; the F16 file is removed in every case."""
    from app.runtime import paths

    tmp_dir = paths.cache_dir() / "work"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    f16 = tmp_dir / f"{source_name(plan.source)}-F16.gguf"
    try:
        convert_checkpoint(folder, f16, "f16", progress=progress, cancel=cancel)
        imatrix = None
        if plan.calibration is not None:
            emit(progress, Progress("importance matrix", 0, None))
            imatrix = make_imatrix(f16, None, plan.calibration or None, threads=plan.threads, progress=progress,
                                   cancel=cancel)
        check(cancel)
        quantize_file(f16, result.files, imatrix=imatrix, threads=plan.threads, progress=progress, cancel=cancel)
        if plan.measure_quality:
            _measure(result, f16, plan, quality_progress, cancel)
    finally:
        f16.unlink(missing_ok=True)


def _measure(result: PlanResult, base: Path, plan: QuantizePlan, progress, cancel) -> None:
    """Compare each output with ``base`` (KL divergence, perplexity); failures are reported, not raised."""
    from converter.core.progress import Cancelled

    try:
        from app.runtime.evaluate import compare_models

        mixes = list(result.files)
        report = compare_models(base, [result.files[m] for m in mixes], n_threads=plan.threads, progress=progress,
                                cancel=cancel)
        result.quality = dict(zip(mixes, report.candidates))
    except ImportError as exc:
        result.quality_error = f"quality measurement is not available: {exc}"
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the quantized files are still good
        result.quality_error = one_line(exc)
