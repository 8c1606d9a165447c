"""The Quantize wizard driven through its real widgets: SmolLM2 checkpoint -> Q4_K_M file, and a cancel."""

from __future__ import annotations

import time

import pytest

from app.gui.wizard.wizard import DONE, RUN, SOURCE, TYPES, QuantizeWizard
from app.runtime.settings import Settings
from converter.gguf_in import read_gguf
from tests.fixtures.ui_timing import TickGaps

# Generous bounds that hold on a loaded machine and still catch a blocked UI thread or an ignored cancel; the
# measured figures come from bench/ui_latency.py.
MAX_UI_GAP_S = 2.0
MAX_CANCEL_S = 30.0


@pytest.fixture
def wizard(qtbot, tmp_path, smollm2_hf):
    settings = Settings(models_dir=str(tmp_path / "models"), threads=1)
    wiz = QuantizeWizard(settings)
    qtbot.addWidget(wiz)
    wiz.show()
    assert wiz.page() == SOURCE and not wiz.next_button.isEnabled()
    wiz.source_page.set_local(str(smollm2_hf))
    assert wiz.next_button.isEnabled()
    wiz.next_button.click()
    assert wiz.page() == TYPES
    qtbot.waitUntil(lambda: bool(wiz.types_page.options), timeout=120_000)
    assert wiz.types_page.selected_mixes() == ["Q4_K_M"]  # the default type is preselected
    yield wiz
    wiz.stop()


def test_wizard_makes_q4_k_m_and_ui_stays_responsive(qtbot, wizard, tmp_path):
    option = next(o for o in wizard.types_page.options if o.mix == "Q4_K_M")
    assert option.size > 0 and 4.0 < option.bits_per_weight < 8.0
    gaps = TickGaps()
    gaps.start()
    wizard.next_button.click()  # "Start"
    assert wizard.page() == RUN and wizard.run_page.is_running()
    assert not wizard.back_button.isEnabled()
    qtbot.waitUntil(lambda: wizard.page() == DONE, timeout=600_000)
    gaps.stop()
    files = list((tmp_path / "models").glob("*.gguf"))
    assert len(files) == 1 and files[0].name.endswith("-Q4_K_M.gguf"), files
    gf = read_gguf(files[0])
    assert gf.get("general.file_type") == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert sum(t.nbytes for t in gf.tensors) == option.size  # the table's size is exact
    assert wizard.done_page.table.rowCount() == 1 and wizard.done_page.selected_path() == files[0]
    assert gaps.ticks > 50
    assert gaps.max_gap < MAX_UI_GAP_S, gaps.describe()


def test_cancel_leaves_nothing_and_ui_usable(qtbot, wizard, tmp_path):
    wizard.next_button.click()
    run = wizard.run_page
    qtbot.waitUntil(lambda: "tensor" in run.progress.detail.text() or "byte" in run.progress.detail.text()
                    or run.progress.bar.value() > 0, timeout=120_000)
    t0 = time.monotonic()
    with qtbot.waitSignal(run.cancelled, timeout=int(MAX_CANCEL_S * 2000)):
        run.cancel_button.click()
    assert time.monotonic() - t0 < MAX_CANCEL_S
    qtbot.waitUntil(lambda: not run.is_running(), timeout=int(MAX_CANCEL_S * 1000))
    models = tmp_path / "models"
    assert not list(models.glob("*.gguf")) and not list(models.glob(".*")), list(models.iterdir())
    assert "Cancelled" in run.message.text()
    qtbot.waitUntil(wizard.back_button.isEnabled, timeout=5_000)
    wizard.back_button.click()
    assert wizard.page() == TYPES and wizard.next_button.isEnabled()


def test_closing_the_window_cancels_and_joins_the_job(qtbot, tmp_path, smollm2_hf):
    from app.gui import workers
    from app.gui.main_window import MainWindow

    window = MainWindow(Settings(models_dir=str(tmp_path / "models"), threads=1))
    qtbot.addWidget(window)
    window.open_wizard(str(smollm2_hf))
    wiz = window.wizard
    wiz.next_button.click()
    qtbot.waitUntil(lambda: bool(wiz.types_page.options), timeout=120_000)
    wiz.next_button.click()
    qtbot.waitUntil(lambda: wiz.run_page.progress.bar.value() > 0, timeout=120_000)
    window.close()  # returns once every worker has stopped
    assert not workers.live_workers()
    assert not list((tmp_path / "models").glob("*.gguf"))
