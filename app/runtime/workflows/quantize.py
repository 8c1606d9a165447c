"""Quantize a GGUF and compute importance matrices: what ``kompakt quantize``/``kompakt imatrix`` and the Quantize
wizard share, including the one rule for where each output file goes (:func:`output_paths`).

Plain Python (no Qt). Long functions follow the ``progress=``/``cancel=`` convention of :mod:`converter.core`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from converter.core.progress import CancelToken, ProgressCallback

log = logging.getLogger(__name__)

#: A precision suffix of the source's name, dropped from output names ("SmolLM2-F16" -> "SmolLM2-Q4_K_M").
_BASE_SUFFIX = re.compile(r"[-_.](f32|f16|bf16|fp16|fp32)$", re.IGNORECASE)


def output_stem(raw: str) -> str:
    """The name outputs start with: ``raw`` made file-name-safe, without a precision suffix; "model" if empty."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")
    return _BASE_SUFFIX.sub("", safe) or "model"


def output_paths(stem: str, mixes: Sequence[str], out: Path, *, is_dir: bool = False) -> dict[str, Path]:
    """Where each mix is written; the one rule for the CLI and the GUI.

    ``out`` containing ``{type}`` is filled in per mix. A directory (``is_dir``, an existing directory, or with
    several mixes a name without extension) gets ``<dir>/<stem>-<MIX>.gguf``. Otherwise ``out`` is the file, which
    takes only one mix. ``mixes`` are canonical names (see :func:`mix_names`).
    """
    if "{type}" in str(out):
        return {m: Path(str(out).replace("{type}", m)) for m in mixes}
    if is_dir or out.is_dir() or (len(mixes) > 1 and not out.suffix):
        return {m: out / f"{stem}-{m}.gguf" for m in mixes}
    if len(mixes) > 1:
        raise ValueError(f"{out}: several types need a directory or a name containing {{type}}")
    return {mixes[0]: out}


def start_workers(threads: Optional[int]) -> None:
    """Start the quantizer's worker-process server now (unless ``threads == 1``), so its imports overlap with
    the caller's; it lives as long as the process and later calls return at once."""
    if threads != 1:
        from converter.worker_pool import start_worker_server

        start_worker_server()


def mix_names(names: str | Iterable[str]) -> list[str]:
    """Canonical mix names (``"q4_k_m,Q8_0"`` -> ``["Q4_K_M", "Q8_0"]``); unknown or repeated types raise."""
    from converter.core.quant_types import get_mix

    items = names.split(",") if isinstance(names, str) else list(names)
    mixes = [get_mix(m).name for m in items if m.strip()]
    if not mixes:
        raise ValueError("choose at least one quantization type")
    if len(set(mixes)) != len(mixes):
        raise ValueError("the same type is listed twice")
    return mixes


def quantize_file(src: Path, outputs: Mapping[str, Path], *, imatrix: Any = None, calibration: Optional[str] = None,
                  dataset: str = "", save_imatrix: Optional[Path] = None, overrides: Sequence[str] = (),
                  threads: Optional[int] = None, allow_requantize: bool = False, pure: bool = False,
                  progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> list[Path]:
    """Quantize the GGUF ``src`` to every ``{mix: path}`` of ``outputs`` in one read; returns the written files.

    ``imatrix``: a file or an importance matrix. ``calibration``: compute one from this text first ("" for
    Kompakt's own), after checking the source and options so a bad one fails before minutes of calibration;
    ``save_imatrix`` also writes it. ``overrides``: ``PATTERN=TYPE`` rules.
    """
    start_workers(threads)
    from converter.quantize import plan_gguf, quantize_ladder

    for path in outputs.values():
        if path.resolve() == src.resolve():
            raise ValueError(f"{path}: the output would overwrite the input")
        path.parent.mkdir(parents=True, exist_ok=True)
    if calibration is not None:
        plan_gguf(src, list(outputs), overrides=overrides, has_imatrix=True, allow_requantize=allow_requantize,
                  pure=pure)
        imatrix = make_imatrix(src, save_imatrix, calibration or None, dataset=dataset, threads=threads,
                               progress=progress, cancel=cancel)
    log.info("quantizing %s to %s", src, ", ".join(str(p) for p in outputs.values()))
    return quantize_ladder(src, outputs, imatrix=imatrix, overrides=overrides, threads=threads,
                           allow_requantize=allow_requantize, pure=pure, progress=progress, cancel=cancel)


def make_imatrix(model: Path, output: Optional[Path], text: Optional[str] = None, *, legacy: bool = False,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                 **options: Any) -> Any:
    """Compute the importance matrix of ``model`` over ``text`` (None: Kompakt's calibration text) and write it
    to ``output`` when given (llama.cpp's GGUF format, or the legacy .dat with ``legacy``); returns the matrix.
    ``options`` go to :func:`app.runtime.imatrix.compute_imatrix` (chunk_size, max_chunks, threads, ...)."""
    from app.runtime.imatrix import compute_imatrix
    from converter.imatrix import write_imatrix

    im = compute_imatrix(model, text, progress=progress, cancel=cancel, **options)
    if output is not None:
        write_imatrix(im, output, legacy=legacy)
        log.info("wrote importance matrix %s", output)
    return im
