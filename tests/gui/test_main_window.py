"""Main window, Models list, Settings dialog: built from real widgets offscreen."""

from __future__ import annotations

import logging
import shutil

from app.gui.main_window import PLACES, MainWindow
from app.gui.settings_dialog import SettingsDialog
from app.gui.wizard.wizard import TYPES
from app.runtime import logs
from app.runtime.settings import Settings


def test_main_window_places_icon_and_models_list(qtbot, tmp_path, smollm2_gguf):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(smollm2_gguf, models / "smol-Q4_1.gguf")
    (models / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 20)
    (models / ".half.gguf.123.tmp").write_bytes(b"partial")
    window = MainWindow(Settings(models_dir=str(models)))
    qtbot.addWidget(window)
    window.show()
    assert not window.windowIcon().isNull()
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == list(PLACES)
    view = window.models
    qtbot.waitUntil(lambda: view.table.rowCount() == 2, timeout=30_000)
    rows = {view.table.item(r, 0).text(): r for r in range(2)}
    good, bad = rows["smol-Q4_1"], rows["broken"]
    assert view.table.item(good, 1).text() == "GGUF Q4_1"
    assert view.table.item(bad, 3).text() == "unreadable"
    view.table.selectRow(good)
    assert view.chat_button.isEnabled()
    view.table.selectRow(bad)
    assert not view.chat_button.isEnabled()
    window.show_place("Quantize")
    assert window.stack.currentWidget() is window.wizard
    window.close()


def test_settings_dialog_edits_a_copy(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretSECRETsecret1234")  # logged in: the dialog must mask the token
    original = Settings(threads=2)
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    dialog.threads.setValue(3)
    dialog.quant.setCurrentText("Q5_K_M")
    dialog.models_dir.setText(str(tmp_path))
    new = dialog.result_settings()
    assert (new.threads, new.default_quant, new.models_dir) == (3, "Q5_K_M", str(tmp_path))
    assert original.threads == 2
    assert dialog.token_state.text() == "logged in (hf_…1234)"


def test_about_and_errors_name_the_log_file(qtbot, tmp_path, monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test
    monkeypatch.setattr(root, "level", root.level)
    log_file = logs.configure(stderr_level=None, file=logs.log_file())
    try:
        assert log_file is not None and log_file.is_relative_to(tmp_path.parent)  # KOMPAKT_DATA_DIR, not the home
        window = MainWindow(Settings(models_dir=str(tmp_path / "models")))
        qtbot.addWidget(window)
        assert "&Help" in [a.text() for a in window.menuBar().actions()]
        about = window.open_about()
        assert str(log_file) in about.text.text() and str(tmp_path / "models") in about.text.text()
        about.close()
        broken = tmp_path / "broken.gguf"
        broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 20)
        window.open_wizard(str(broken))
        window.wizard.next_button.click()
        assert window.wizard.page() == TYPES
        status = window.wizard.types_page.status
        qtbot.waitUntil(lambda: "Cannot read this model" in status.text(), timeout=60_000)
        assert "broken.gguf" in status.text() and "Details: <a href=" in status.text(), status.text()
        assert str(log_file) in status.text() and status.openExternalLinks()
        window.close()
        text = log_file.read_text(encoding="utf-8")
        assert "estimate-types failed" in text and "Traceback" in text and "broken.gguf" in text, text
    finally:
        logs.configure(stderr_level=None)
