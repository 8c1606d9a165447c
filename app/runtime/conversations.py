"""Conversations: the message list a chat session works on, and saving/loading them as JSON files.

A conversation file is one JSON object::

    {"format": "kompakt-conversation", "version": 1, "id": "...", "title": "...", "created": "...",
     "updated": "...", "model": "/path/model.gguf", "system_prompt": "...",
     "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "...",
                   "stop_reason": "eos", "stats": {...}}, ...],
     "sampling": {...}}

Files live in a directory the caller passes in (the GUI uses ``KOMPAKT_DATA_DIR/conversations``), named
``<id>.json``, written atomically.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.runtime.errors import ConversationError

log = logging.getLogger(__name__)

FORMAT = "kompakt-conversation"
VERSION = 1
ROLES = ("user", "assistant")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Message:
    """One message. Assistant messages also record why generation stopped and its speed."""

    role: str
    content: str
    stop_reason: str | None = None  # "eos", "max_tokens", "cancelled" for assistant messages
    stats: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (optional fields only when set)."""
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.stop_reason is not None:
            d["stop_reason"] = self.stop_reason
        if self.stats:
            d["stats"] = self.stats
        return d


@dataclass
class Conversation:
    """A system prompt plus alternating user/assistant messages."""

    system_prompt: str = ""
    messages: list[Message] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    title: str = ""
    model: str = ""
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    sampling: dict[str, Any] = field(default_factory=dict)

    def chat_messages(self) -> list[dict[str, str]]:
        """The messages a chat template takes: the system prompt (if any) then every message."""
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        out.extend({"role": m.role, "content": m.content} for m in self.messages)
        return out

    def display_title(self) -> str:
        """The title, or the start of the first user message."""
        if self.title:
            return self.title
        first = next((m.content for m in self.messages if m.role == "user"), "")
        first = " ".join(first.split())
        return (first[:60] + "…") if len(first) > 60 else (first or "New conversation")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document saved on disk."""
        return {"format": FORMAT, "version": VERSION, "id": self.id, "title": self.title, "created": self.created,
                "updated": self.updated, "model": self.model, "system_prompt": self.system_prompt,
                "messages": [m.to_dict() for m in self.messages], "sampling": self.sampling}

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | None = None) -> "Conversation":
        """Rebuild from :meth:`to_dict` output; raises :class:`ConversationError` on anything else."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConversationError("not a Kompakt conversation file", path=path)
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise ConversationError(f"unsupported conversation version {data.get('version')!r}", path=path)
        raw = data.get("messages", [])
        if not isinstance(raw, list):
            raise ConversationError("'messages' is not a list", path=path)
        messages = []
        for i, m in enumerate(raw):
            if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
                raise ConversationError(f"message #{i} is malformed", path=path)
            stats = m.get("stats")
            messages.append(Message(m["role"], m["content"], m.get("stop_reason"),
                                    stats if isinstance(stats, dict) else None))

        def text(key: str, default: str = "") -> str:
            value = data.get(key, default)
            if not isinstance(value, str):
                raise ConversationError(f"{key!r} is not a string", path=path)
            return value

        sampling = data.get("sampling", {})
        return cls(system_prompt=text("system_prompt"), messages=messages, id=text("id") or uuid.uuid4().hex[:16],
                   title=text("title"), model=text("model"), created=text("created") or _now(),
                   updated=text("updated") or _now(), sampling=sampling if isinstance(sampling, dict) else {})


def conversation_path(directory: str | Path, conversation_id: str) -> Path:
    """Where the conversation with ``conversation_id`` is stored in ``directory``."""
    safe = "".join(c for c in conversation_id if c.isalnum() or c in "-_")
    if not safe:
        raise ConversationError(f"invalid conversation id {conversation_id!r}")
    return Path(directory) / f"{safe}.json"


def save_conversation(conversation: Conversation, directory: str | Path) -> Path:
    """Write ``conversation`` to ``directory/<id>.json`` atomically (creating the directory) and return the path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return write_conversation(conversation, conversation_path(directory, conversation.id))


def write_conversation(conversation: Conversation, path: str | Path) -> Path:
    """Write ``conversation`` to the file ``path`` atomically (its directory must exist) and return the path."""
    from converter.atomic import atomic_output

    conversation.updated = _now()
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(conversation.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def load_conversation(path: str | Path) -> Conversation:
    """Read a conversation file; raises :class:`ConversationError` if it is missing, not JSON, or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversationError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversationError(f"cannot read conversation: {exc}", path=path) from None
    return Conversation.from_dict(data, path=path)


def list_conversations(directory: str | Path) -> list[Conversation]:
    """Every readable conversation in ``directory``, most recently updated first (bad files are logged and
    skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob("*.json"):
        try:
            found.append(load_conversation(path))
        except ConversationError as exc:
            log.warning("skipping %s", exc)
    return sorted(found, key=lambda c: c.updated, reverse=True)


def delete_conversation(directory: str | Path, conversation_id: str) -> bool:
    """Delete a stored conversation; True if a file was removed."""
    path = conversation_path(directory, conversation_id)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
