"""Render the README screenshots (docs/screenshots/*.png) from the real app on the SmolLM2 test fixtures.

Run under a display (e.g. ``Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 QT_QPA_PLATFORM=xcb``) from the repo
root: ``python packaging/tools/take_screenshots.py [workdir]``. Quantized files and the quality comparison are made
for real (a few minutes on two cores) and kept in ``workdir`` for the next run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
MIXES = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")


def prepare(work: Path):
    """Quantized SmolLM2 files (kept in ``work`` for the next run) and their quality report (computed each run:
    the base model's pass is cached by the evaluator itself, and nothing here is ever unpickled)."""
    from app.runtime.evaluate import compare_models
    from converter.quantize import quantize_ladder
    from tests.fixtures.smollm2 import f32_gguf

    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    outs = {m: models / f"SmolLM2-135M-Instruct-{m}.gguf" for m in MIXES}
    if not all(p.exists() for p in outs.values()):
        quantize_ladder(f32_gguf(), {m: str(p) for m, p in outs.items()}, threads=2)
    report = compare_models(f32_gguf(), list(outs.values()), n_ctx=512, n_chunks=6, n_threads=2)
    return models, report


def wait(app, condition, timeout: float = 300.0) -> None:
    """Run the event loop until ``condition()`` (screenshot script only; the app itself never does this)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state")
        app.processEvents()
        time.sleep(0.02)


def shoot(widget, name: str) -> None:
    """Save ``widget`` as docs/screenshots/<name>.png."""
    pix = widget.grab()
    path = OUT / f"{name}.png"
    pix.save(str(path), "PNG")
    print(f"{path}  {pix.width()}x{pix.height()}  {path.stat().st_size // 1024} KiB")


def main() -> int:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "kompakt-shots"
    for var, sub in (("KOMPAKT_CONFIG_DIR", "config"), ("KOMPAKT_DATA_DIR", "data"), ("KOMPAKT_CACHE_DIR", "cache"),
                     ("HF_HOME", "hf")):
        os.environ[var] = str(work / sub)
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    models, report = prepare(work)
    OUT.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    app.setStyle("Fusion")
    from app.gui.main_window import MainWindow
    from app.runtime.settings import Settings
    from tests.fixtures.smollm2 import hf_checkpoint

    win = MainWindow(Settings(models_dir=str(models), threads=2, context_length=2048, max_tokens=120))
    win.resize(1240, 760)
    win.show()
    wait(app, lambda: win.models.table.rowCount() >= len(MIXES))
    win.models.table.selectRow(1)
    shoot(win, "models")

    win.wizard.source_page.set_local(str(hf_checkpoint()))
    win.show_place("Quantize")
    win.wizard.next_button.click()
    wait(app, lambda: bool(win.wizard.types_page.options))
    win.wizard.types_page.set_checked(["Q4_K_M", "Q5_K_M"])
    shoot(win, "quantize-types")
    win.wizard.types_page.out_edit.setText(str(work / "wizard-out"))
    win.wizard.next_button.click()
    progress = win.wizard.run_page.progress
    wait(app, lambda: progress.bar.value() > 250 and "left" in progress.detail.text())
    shoot(win, "quantize-progress")
    wait(app, lambda: win.wizard.page() == 3)
    shoot(win, "quantize-done")

    win.open_fit(str(models / "SmolLM2-135M-Instruct-Q4_K_M.gguf"))
    wait(app, lambda: win.fit.plan is not None)
    win.fit.ctx_slider.setValue(13)
    shoot(win, "fit")

    win.show_place("Quality")
    win.quality.base_edit.setText("SmolLM2-135M-Instruct F32 (llama.cpp)")
    for m in MIXES:
        win.quality.candidates.addItem(str(models / f"SmolLM2-135M-Instruct-{m}.gguf"))
    win.quality.show_results(report.candidates)
    shoot(win, "quality")

    win.open_chat(str(models / "SmolLM2-135M-Instruct-Q8_0.gguf"))
    wait(app, lambda: "ready" in win.chat.model_label.text())
    win.chat.sampling_panel.temperature.setValue(0.2)
    win.chat.input.setPlainText("Write a Python function that reverses a string, with a short explanation.")
    win.chat.send()
    wait(app, lambda: not win.chat.busy())
    wait(app, lambda: win.chat.conversation_list.count() > 0, 10)
    shoot(win, "chat")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
