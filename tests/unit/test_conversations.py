"""Conversations save to JSON atomically and load back; bad files give a clear ConversationError."""

import json

import pytest

from app.runtime.conversations import (Conversation, Message, delete_conversation, list_conversations,
                                       load_conversation, save_conversation)
from app.runtime.errors import ConversationError


def sample():
    return Conversation(system_prompt="Be brief.", model="/m/x.gguf", sampling={"temperature": 0.2}, messages=[
        Message("user", "Héllo ✓"), Message("assistant", "Hi!", "eos", {"generation_tps": 12.5})])


def test_round_trip(tmp_path):
    conv = sample()
    path = save_conversation(conv, tmp_path / "conversations")
    assert path.parent == tmp_path / "conversations" and path.name == f"{conv.id}.json"
    back = load_conversation(path)
    assert back.to_dict() == conv.to_dict()
    assert back.chat_messages()[0] == {"role": "system", "content": "Be brief."}
    assert [c.id for c in list_conversations(tmp_path / "conversations")] == [conv.id]
    assert not list(path.parent.glob(".*tmp"))
    assert delete_conversation(tmp_path / "conversations", conv.id)
    assert list_conversations(tmp_path / "conversations") == []


def test_title_from_first_message():
    assert sample().display_title() == "Héllo ✓"
    assert Conversation().display_title() == "New conversation"


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "other"}),
                                     json.dumps({"format": "kompakt-conversation", "version": 1,
                                                 "messages": [{"role": "robot", "content": "x"}]}),
                                     json.dumps({"format": "kompakt-conversation", "version": 99})])
def test_bad_files(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ConversationError) as info:
        load_conversation(p)
    assert str(p) in str(info.value)
    save_conversation(sample(), tmp_path)
    assert len(list_conversations(tmp_path)) == 1  # the bad file is skipped, not fatal


def test_missing_file(tmp_path):
    with pytest.raises(ConversationError, match="not found"):
        load_conversation(tmp_path / "nope.json")
