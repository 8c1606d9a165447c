"""The wizard's source page says, before anything is downloaded, whether Kompakt converts the selected Hub repo,
and for one it cannot convert names a ready-made GGUF of the same model and the supported architectures."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.gui.wizard.source_page import SourcePage
from app.runtime.sources import HubRepo
from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture
from tests.fixtures.hub_repos import tiny_repo


@pytest.fixture
def page(qtbot, fake_hub):
    fake_hub.add_repo("acme/Llama-Tiny-1B", tiny_repo(), downloads=900)
    fake_hub.add_repo("acme/Fancy-Tiny-7B", tiny_repo(config={"architectures": ["FancyForCausalLM"]}), downloads=800)
    fake_hub.add_repo("bart/Fancy-Tiny-7B-GGUF", {"Fancy-Tiny-7B-Q4_K_M.gguf": b"GGUF" + bytes(100)},
                      downloads=70, library_name="gguf", tags=["gguf"])
    widget = SourcePage()
    qtbot.addWidget(widget)
    yield widget
    widget.stop()


def _select(qtbot, page, repo_id: str) -> None:
    row = next(i for i in range(page.results.count())
               if page.results.item(i).data(Qt.ItemDataRole.UserRole) == repo_id)
    page.results.setCurrentRow(row)
    qtbot.waitUntil(lambda: not page.support_status.text().startswith("Checking"), timeout=60_000)


def test_source_page_names_the_gguf_alternative_of_an_unsupported_repo(qtbot, page, fake_hub):
    page.search_edit.setText("tiny")
    qtbot.waitUntil(lambda: page.results.count() == 3, timeout=60_000)
    _select(qtbot, page, "acme/Fancy-Tiny-7B")
    text = page.support_status.text()
    assert text.startswith("✗ Kompakt's converter does not support the FancyForCausalLM architecture"), text
    assert "bart/Fancy-Tiny-7B-GGUF (70 downloads)" in text and "LlamaForCausalLM" in text, text
    assert page.source() is None  # not offered: the wizard's Next stays disabled
    _select(qtbot, page, "acme/Llama-Tiny-1B")
    assert page.support_status.text() == "✓ Kompakt can convert acme/Llama-Tiny-1B (LlamaForCausalLM)."
    assert page.source() == HubRepo("acme/Llama-Tiny-1B")
    weights = [p for (_, p, _, _) in fake_hub.requests if p.endswith(".safetensors") or "/cdn/" in p]
    assert weights == []  # nothing but metadata and config.json was fetched
