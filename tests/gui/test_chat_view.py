"""The Chat view answers with the real SmolLM2 model: streaming, regenerate, edit and resend, saved conversation."""

from __future__ import annotations

import pytest

from app.runtime.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def chat(qtbot):
    from app.gui.chat.chat_view import ChatView

    view = ChatView(Settings(context_length=512, max_tokens=8, threads=2, temperature=0.0))
    qtbot.addWidget(view)
    yield view
    view.shutdown()


def test_chat_answers_regenerates_and_edits(qtbot, chat, smollm2_gguf):
    from app.gui.chat.chat_view import conversations_dir

    chat.load_model(str(smollm2_gguf))
    qtbot.waitUntil(lambda: "ready" in chat.model_label.text(), timeout=120_000)
    assert chat.load_panel.n_ctx() == 512
    chat.input.setPlainText("What is the capital of France?")
    chat.send_button.click()
    assert chat.busy() and chat.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not chat.busy(), timeout=120_000)
    assert [role for role, _ in chat.messages] == ["user", "assistant"], chat.status.text()
    answer = chat.messages[1][1]
    assert answer.strip()
    assert "#### Assistant" in chat.transcript.markdown_text()
    assert chat.last_stats.generated_tokens > 0 and "tokens/s" in chat.speed.text()
    assert 0 < chat.context_meter.value() <= 512
    qtbot.waitUntil(lambda: any(conversations_dir().glob("*.json")), timeout=10_000)
    qtbot.waitUntil(lambda: chat.conversation_list.count() == 1, timeout=10_000)

    chat.regen_button.click()
    qtbot.waitUntil(lambda: not chat.busy(), timeout=120_000)
    assert [role for role, _ in chat.messages] == ["user", "assistant"]

    chat.edit_button.click()
    assert chat.input.toPlainText() == "What is the capital of France?"
    chat.input.setPlainText("Name a colour.")
    chat.send_button.click()
    qtbot.waitUntil(lambda: not chat.busy(), timeout=120_000)
    assert chat.messages[0] == ("user", "Name a colour.") and len(chat.messages) == 2
