"""Errors raised by the runtime services (chat, conversations, ...).

Like :mod:`converter.errors`, every error inherits :class:`KompaktRuntimeError` and the built-in a caller would
naturally catch, carries structured fields, and reads as a one-line message naming the file and the problem.
Third-party exceptions (llama.cpp, jinja2, json) are translated into these at the runtime boundary.
"""

from __future__ import annotations

from pathlib import Path


class KompaktRuntimeError(Exception):
    """Base of every error the runtime services raise on purpose."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ChatError(KompaktRuntimeError, RuntimeError):
    """Chatting with a model failed: it cannot be loaded, its template is broken, llama.cpp refused a request."""


class ModelFileError(ChatError, OSError):
    """The model file is missing, unreadable, truncated, or not a GGUF file llama.cpp can load."""


class TemplateError(ChatError, ValueError):
    """The model's chat template cannot be parsed or rendered for this conversation."""


class ContextFullError(ChatError):
    """The next prompt plus the longest allowed answer does not fit the context window.

    Nothing is dropped silently: ``turns_to_drop`` says how many of the oldest turns (user message + answer) must
    go for the request to fit (the system prompt always stays), or is None when even an empty history is too long
    (the message itself is too large for this context size).
    """

    def __init__(self, *, prompt_tokens: int, max_tokens: int, n_ctx: int, turns_to_drop: int | None) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx
        self.turns_to_drop = turns_to_drop
        need = f"the prompt ({prompt_tokens} tokens) plus the answer budget ({max_tokens}) exceeds the context " \
               f"({n_ctx} tokens)"
        if turns_to_drop is None:
            hint = "the message is too long even without earlier turns; shorten it, lower max tokens, or raise the context size"
        else:
            s = "" if turns_to_drop == 1 else "s"
            hint = f"drop the oldest {turns_to_drop} turn{s} to continue, or raise the context size"
        super().__init__(f"context full: {need}; {hint}")


class ConversationError(KompaktRuntimeError, ValueError):
    """A saved conversation file is unreadable or not a Kompakt conversation."""
