"""What the Quantize wizard runs: download (Hub), convert, optional importance matrix, quantize, optional quality.

Plain Python (no Qt): :func:`run_plan` is one long job with the converter's ``progress=``/``cancel=`` convention,
so the GUI runs it on a :class:`app.gui.workers.Worker` and tests can call it directly. Every output is written
atomically by the converter; the intermediate F16 file (only made for several types or an importance matrix)
lives in the cache directory and is always removed, so a cancel or an error leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

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
    """A file-name-safe stem for ``source``: the repo name, the folder name or the GGUF's stem."""
    from app.runtime.sources import HubRepo

    raw = source.repo_id.split("/")[-1] if isinstance(source, HubRepo) else Path(source.path).stem  # type: ignore
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.") or "model"


def output_paths(plan: QuantizePlan) -> dict[str, Path]:
    """Where each mix goes: ``<out_dir>/<name>-<MIX>.gguf``."""
    from converter.core.quant_types import get_mix

    name = plan.name or source_name(plan.source)
    return {get_mix(m).name: plan.out_dir / f"{name}-{get_mix(m).name}.gguf" for m in plan.mixes}


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

    if not plan.mixes:
        raise ValueError("choose at least one quantization type")
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    outputs = output_paths(plan)
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
        _quantize_gguf(Path(source.path), outputs, plan, staged, cancel)
        if plan.measure_quality:
            _measure(result, Path(source.path), plan, _staged(progress, prefix()), cancel)
    elif len(outputs) == 1 and plan.calibration is None and not plan.measure_quality:
        from converter.convert import convert

        ((mix, path),) = outputs.items()
        convert(source.path, path, mix, progress=staged, cancel=cancel)
    else:
        _via_f16(Path(source.path), result, plan, staged, cancel,
                 _staged(progress, prefix()) if plan.measure_quality else None)
    return result


def _quantize_gguf(src: Path, outputs: dict[str, Path], plan: QuantizePlan, progress, cancel,
                   imatrix=None) -> None:
    from converter.quantize import quantize_ladder

    quantize_ladder(src, {m: str(p) for m, p in outputs.items()}, imatrix=imatrix, threads=plan.threads,
                    progress=progress, cancel=cancel)


def _via_f16(folder: Path, result: PlanResult, plan: QuantizePlan, progress, cancel, quality_progress) -> None:
    """Convert once to a temporary F16 GGUF, compute the importance matrix on it if asked, quantize every mix,
    and measure quality against the F16 file if asked; the F16 file is removed in every case."""
    from app.runtime import paths
    from converter.convert import convert

    tmp_dir = paths.cache_dir() / "work"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    f16 = tmp_dir / f"{source_name(plan.source)}-F16.gguf"
    try:
        convert(folder, f16, "f16", progress=progress, cancel=cancel)
        imatrix = None
        if plan.calibration is not None:
            from app.runtime.imatrix import compute_imatrix

            emit(progress, Progress("importance matrix", 0, None))
            imatrix = compute_imatrix(f16, plan.calibration or None, threads=plan.threads, progress=progress,
                                      cancel=cancel)
        check(cancel)
        _quantize_gguf(f16, result.files, plan, progress, cancel, imatrix)
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
        result.quality_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
