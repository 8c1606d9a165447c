"""``kompakt fit MODEL``: will this model run on this machine, how many layers go on the GPU, how much context?"""

from __future__ import annotations

import argparse
import json
import re
import sys

from converter.core.quant_types import DEFAULT_MIX, KV_CACHE_OFFERED

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """``8G``, ``512MiB``, ``1.5g`` or a plain byte count -> bytes (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 8G, 512M or a byte count)")
    scale = 1 << (10 * " kmgt".index(m.group(2).lower() or " "))
    return int(float(m.group(1)) * scale)


def gpu_layers_arg(text: str) -> int:
    """``--gpu-layers`` for ``kompakt fit`` and ``kompakt chat``: a count, ``auto`` (-1: as many as fit) or ``all``."""
    from app.runtime.settings import GPU_LAYERS_ALL, GPU_LAYERS_AUTO

    named = {"auto": GPU_LAYERS_AUTO, "all": GPU_LAYERS_ALL}
    try:
        return named[text] if text in named else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("--gpu-layers takes a number, 'auto' or 'all'") from None


def add_parser(subparsers) -> None:
    """Register ``kompakt fit``."""
    p = subparsers.add_parser("fit", help="estimate RAM/VRAM use and whether a model fits",
                              description="Estimate the memory llama.cpp needs for MODEL (a GGUF file, a Hugging "
                                          "Face folder or a Hub repo id) and whether it fits this machine, with "
                                          "the parameters `kompakt chat` would load it with. Defaults come from "
                                          "your saved settings; flags override them.")
    p.add_argument("model", metavar="MODEL", help="GGUF file, Hugging Face folder, or Hub repo id (owner/name)")
    p.add_argument("--type", default=None, metavar="MIX",
                   help="target mix for a Hugging Face model (default: your settings' default mix; ignored for "
                        "GGUF)")
    p.add_argument("--ctx", type=int, default=None,
                   help="context size in tokens (default: your settings' context, lowered until it fits)")
    p.add_argument("--kv-type", choices=KV_CACHE_OFFERED, default=None,
                   help="KV cache type (K and V; default: your settings')")
    p.add_argument("--flash-attn", choices=["auto", "on", "off"], default=None,
                   help="flash attention (default auto: as llama.cpp decides for this device and model)")
    p.add_argument("--gpu-layers", type=gpu_layers_arg, default=None, metavar="N|auto|all",
                   help="layers to offload like llama.cpp's n_gpu_layers (default: your settings', auto = as many "
                        "as fit)")
    p.add_argument("--ubatch", type=int, default=None, help="batch size, n_batch = n_ubatch as chat loads use "
                                                             "(default 512)")
    p.add_argument("--swa-full", choices=["on", "off"], default="on",
                   help="full-size cache for sliding-window layers (llama.cpp's default: on)")
    p.add_argument("--no-mmap", action="store_true", help="estimate loading without mmap")
    p.add_argument("--ram", type=parse_bytes, default=None, metavar="BYTES", help="pretend this much RAM is free")
    p.add_argument("--vram", type=parse_bytes, default=None, metavar="BYTES",
                   help="pretend the GPU has this much free memory (adds a hypothetical CUDA GPU if none)")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Estimate and print; exit 0 when it fits, 2 when it does not, 1 on errors."""
    from app.cli._console import run_job

    return run_job(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from app.runtime import settings
    from app.runtime.fit import NO_FIT, load_spec
    from app.runtime.load_policy import hardware_info, plan_load, this_machine

    prefs = settings.load()
    spec = load_spec(args.model, args.type or prefs.default_quant)
    if args.type and spec.file_size is not None:
        print("kompakt: note: --type is ignored for a GGUF file", file=sys.stderr)
    kv = args.kv_type
    plan = plan_load(args.model, prefs, spec=spec, machine=this_machine(ram=args.ram, vram=args.vram),
                     swa_full=args.swa_full == "on", use_mmap=not args.no_mmap, n_ctx=args.ctx,
                     n_gpu_layers=args.gpu_layers, n_batch=args.ubatch, type_k=kv, type_v=kv,
                     flash_attn=args.flash_attn)
    for note in plan.notes:
        print(f"kompakt: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(plan_to_json(plan.fit), indent=2))
    else:
        print(render(plan.fit, spec, hardware_info()))
    return 2 if plan.verdict == NO_FIT else 0


def plan_to_json(plan) -> dict:
    """The ``--json`` document."""
    est = plan.estimate
    return {
        "model_bytes": est.model_bytes, "kv_bytes": est.kv_bytes, "compute_bytes": est.compute_bytes,
        "output_bytes": est.output_bytes, "overhead_bytes": est.overhead_bytes, "total_bytes": est.total_bytes,
        "verdict": plan.verdict, "summary": plan.summary(), "gpu_layers": est.gpu_layers, "n_layer": plan.n_layer,
        "ctx": est.ctx.n_ctx, "kv_cells": est.ctx.kv_size, "max_ctx": plan.max_ctx, "kv_type_k": est.ctx.type_k,
        "kv_type_v": est.ctx.type_v, "flash_attn": est.ctx.flash_attn,
        "devices": [d.to_dict() for d in est.devices], "suggestions": plan.suggestions,
    }


def render(plan, spec, hw) -> str:
    """Human-readable table and verdict."""
    from converter.core.units import human_bytes as hb

    est = plan.estimate
    c = est.ctx
    lines = [
        f"Model: {spec.source}  ({spec.arch}, {spec.n_layer} layers, {hb(spec.weights_bytes)} of weights)",
        f"Context {c.n_ctx} tokens ({c.kv_size} KV cells), KV {c.type_k}/{c.type_v}, flash attention "
        f"{'on' if c.flash_attn else 'off'}; GPU layers {est.gpu_layers}/{spec.n_layer + 1}",
        "",
    ]
    head = ("Device", "Weights", "KV cache", "Compute", "Output", "Overhead", "Total", "Free", "")
    rows = [head]
    for d in est.devices:
        free = hb(d.budget_bytes) if d.budget_bytes is not None else "?"
        rows.append((d.name[:28], hb(d.model_bytes), hb(d.kv_bytes), hb(d.compute_bytes), hb(d.output_bytes),
                     hb(d.overhead_bytes), hb(d.total_bytes), free, "ok" if d.fits else "TOO BIG"))
    rows.append(("Total", hb(est.model_bytes), hb(est.kv_bytes), hb(est.compute_bytes), hb(est.output_bytes),
                 hb(est.overhead_bytes), hb(est.total_bytes), "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    lines.append("")
    repack = sum(d.repack_bytes for d in est.devices)
    if repack:
        lines.append(f"(weights include {hb(repack)} of CPU_REPACK copies: llama.cpp re-lays some quantized "
                     f"tensors out for this CPU)")
    lines.append(f"Verdict: {plan.summary()}.")
    for d in est.devices:
        if not d.fits:
            lines.append(f"  {d.name} needs {hb(d.total_bytes)} but has {hb(d.budget_bytes)} free "
                         f"(short by {hb(d.total_bytes - d.budget_bytes)}).")
    if est.shared_budget is not None and est.total_bytes > est.shared_budget:
        lines.append(f"  Unified memory: needs {hb(est.total_bytes)}, {hb(est.shared_budget)} available.")
    if plan.max_ctx:
        lines.append(f"Largest context that fits with these settings (searched up to "
                     f"{max(spec.n_ctx_train, c.n_ctx)}): {plan.max_ctx} tokens.")
    for s in plan.suggestions:
        lines.append(f"  - {s}")
    hypothetical = any(d.name.endswith("hypothetical GPU") for d in est.devices)
    for note in hw.notes:
        if hypothetical and note == "no GPU found":
            note = "no GPU found; the GPU above is the hypothetical CUDA card given by --vram"
        lines.append(f"Note: {note}.")
    return "\n".join(lines)
