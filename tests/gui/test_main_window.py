"""Main window, Models list, Settings dialog: built from real widgets offscreen."""

from __future__ import annotations

import shutil

from app.gui.main_window import PLACES, MainWindow
from app.gui.settings_dialog import SettingsDialog
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
