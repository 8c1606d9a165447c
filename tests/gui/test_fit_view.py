"""The Fit view shows the same numbers as ``kompakt fit --json`` for the same settings, and plans flash attention
the way the chat loads the model (both ask the load policy)."""

from __future__ import annotations

import json

from app.runtime.settings import Settings



def _fit_view(qtbot, settings, model):
    from app.gui.fit_view import FitView

    view = FitView(settings)
    qtbot.addWidget(view)
    view.set_model(str(model))
    qtbot.waitUntil(lambda: view.plan is not None, timeout=60_000)
    return view


def test_fit_view_matches_cli(qtbot, kompakt, smollm2_gguf):
    from app.gui.fit_bar import bars_from_estimate

    view = _fit_view(qtbot, Settings(), smollm2_gguf)
    view.ctx_slider.setValue(10)  # 1024 tokens
    view.kv_slider.setValue(1)  # q8_0
    view.gpu_slider.setValue(0)
    assert (view.n_ctx(), view.kv_type(), view.gpu_layers()) == (1024, "q8_0", 0)
    proc = kompakt("fit", smollm2_gguf, "--ctx", "1024", "--kv-type", "q8_0", "--gpu-layers", "0", "--json")
    assert proc.returncode in (0, 2), proc.stderr
    doc = json.loads(proc.stdout)
    est = view.plan.fit.estimate
    for key in ("model_bytes", "kv_bytes", "compute_bytes", "output_bytes", "overhead_bytes", "total_bytes"):
        assert getattr(est, key) == doc[key], key
    assert est.gpu_layers == doc["gpu_layers"] and est.ctx.n_ctx == doc["ctx"]
    assert est.ctx.flash_attn is doc["flash_attn"] is True
    bars = bars_from_estimate(est)
    assert sum(b.total for b in bars) == doc["total_bytes"]
    assert view.bar.bars == bars


def test_fit_view_and_chat_agree_on_flash_attention_for_f16(qtbot, monkeypatch, smollm2_gguf):
    """The GUI chat used to estimate an f16 load without flash attention and then load it with "auto" (on)."""
    from app.gui.chat.panels import LoadPanel
    from app.runtime.chat import session as session_mod

    settings = Settings(context_length=1024, kv_type="f16", threads=1)
    view = _fit_view(qtbot, settings, smollm2_gguf)
    assert view.kv_type() == "f16"
    planned = view.plan.context
    assert "flash attention on" in view.kv_label.text()

    seen = {}

    class Loaded(Exception):
        pass

    def backend(path, load, **_):  # what llama.cpp would be given
        seen["load"] = load
        raise Loaded()

    monkeypatch.setattr(session_mod, "LlamaBackend", backend)
    panel = LoadPanel(settings)
    qtbot.addWidget(panel)
    panel.gpu.setValue(view.gpu_layers())
    try:
        session_mod.ChatSession(smollm2_gguf, panel.load_settings())
    except Loaded:
        pass
    load = seen["load"]
    assert (load.type_k, load.n_ctx, load.n_gpu_layers) == ("f16", planned.n_ctx, view.gpu_layers())
    assert load.flash_attn == ("on" if planned.flash_attn else "off") == "on"  # CPU: llama.cpp enables it


def test_minus_one_gpu_layers_is_auto_in_the_gui(qtbot, monkeypatch, smollm2_gguf):
    from app.gui.chat.panels import LoadPanel
    from app.gui.settings_dialog import SettingsDialog
    from app.runtime import load_policy
    from app.runtime.fit import GpuDevice, Machine

    gpu = Machine(ram_free=8 << 30, ram_total=16 << 30, cpu_isa="avx2",
                  gpus=[GpuDevice("GPU0", "cuda", 600 << 20, 600 << 20)])
    monkeypatch.setattr(load_policy, "this_machine", lambda **_: gpu)
    settings = Settings(context_length=4096)
    assert settings.gpu_layers == -1
    view = _fit_view(qtbot, settings, smollm2_gguf)
    auto = load_policy.plan_load(smollm2_gguf, settings, n_ctx=4096)  # what a chat would load
    assert 0 < view.gpu_layers() == auto.params.n_gpu_layers < 31  # the slider starts at "as many as fit"
    panel = LoadPanel(settings)
    dialog = SettingsDialog(settings)
    qtbot.addWidget(panel)
    qtbot.addWidget(dialog)
    assert panel.gpu.text() == "auto" and panel.load_settings().n_gpu_layers == -1
    assert dialog.gpu.text().startswith("auto") and dialog.result_settings().gpu_layers == -1
