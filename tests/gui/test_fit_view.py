"""The Fit view shows the same numbers as ``kompakt fit --json`` for the same settings."""

from __future__ import annotations

import json

from app.runtime.settings import Settings


def test_fit_view_matches_cli(qtbot, kompakt, smollm2_gguf):
    from app.gui.fit_bar import bars_from_estimate
    from app.gui.fit_view import FitView

    view = FitView(Settings())
    qtbot.addWidget(view)
    view.set_model(str(smollm2_gguf))
    qtbot.waitUntil(lambda: view.plan is not None, timeout=60_000)
    view.ctx_slider.setValue(10)  # 1024 tokens
    view.kv_slider.setValue(1)  # q8_0
    view.gpu_slider.setValue(0)
    assert (view.n_ctx(), view.kv_type(), view.gpu_layers()) == (1024, "q8_0", 0)
    proc = kompakt("fit", smollm2_gguf, "--ctx", "1024", "--kv-type", "q8_0", "--flash-attn", "on",
                   "--gpu-layers", "0", "--json")
    assert proc.returncode in (0, 2), proc.stderr
    doc = json.loads(proc.stdout)
    est = view.plan.estimate
    for key in ("model_bytes", "kv_bytes", "compute_bytes", "output_bytes", "overhead_bytes", "total_bytes"):
        assert getattr(est, key) == doc[key], key
    assert est.gpu_layers == doc["gpu_layers"] and est.ctx.n_ctx == doc["ctx"]
    bars = bars_from_estimate(est)
    assert sum(b.total for b in bars) == doc["total_bytes"]
    assert view.bar.bars == bars
