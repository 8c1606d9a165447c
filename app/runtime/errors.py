"""Errors raised by the runtime services (chat, conversations, ...).

Like :mod:`converter.errors`, every error inherits :class:`KompaktRuntimeError` and the built-in a caller would
naturally catch, carries structured fields, and reads as a one-line message naming the file and the problem.
Third-party exceptions (llama.cpp, jinja2, json) are translated into these at the runtime boundary.
"""

from __future__ import annotations

from pathlib import Path

from converter.core.errors import KompaktError


class KompaktRuntimeError(KompaktError):
    """Base of every error the runtime services raise on purpose."""


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
            hint = ("the message is too long even without earlier turns; shorten it, lower max tokens, "
                    "or raise the context size")
        else:
            s = "" if turns_to_drop == 1 else "s"
            hint = f"drop the oldest {turns_to_drop} turn{s} to continue, or raise the context size"
        super().__init__(f"context full: {need}; {hint}")


class InsufficientMemoryError(ChatError, MemoryError):
    """Loading would run out of memory; the message says how much is needed and what would fit."""

    def __init__(self, message: str, *, needed: int, available: int, suggestions: list[str] | None = None):
        self.needed = needed
        self.available = available
        self.suggestions = list(suggestions or [])
        super().__init__(message)


class SettingsError(KompaktRuntimeError, ValueError):
    """A setting is out of its range or unknown (saved settings, command-line flags, load or sampling settings)."""


class FitError(KompaktRuntimeError, ValueError):
    """The memory-fit estimator cannot describe this model or request (inconsistent hyper-parameters, a context
    or K/V cache setting llama.cpp would refuse)."""


class SourceError(KompaktRuntimeError, ValueError):
    """What the user typed is not a model source: no such file or folder, not a GGUF, not a Hub repo id."""


class ConversationError(KompaktRuntimeError, ValueError):
    """A saved conversation file is unreadable or not a Kompakt conversation."""


class JobError(KompaktRuntimeError, RuntimeError):
    """A job run in a child process failed; the message is the child's one-line error (its traceback is logged)."""


class HubError(KompaktRuntimeError, OSError):
    """Talking to the Hugging Face Hub or its local cache failed (an I/O failure).

    Third-party exceptions (``huggingface_hub``, ``httpx2``) are translated into these subclasses, so the GUI and
    the CLI never see them; the message says what happened and what to do.
    """

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None) -> None:
        self.repo_id = repo_id
        self.url = url
        super().__init__(message)

    def __str__(self) -> str:  # OSError would otherwise format its args
        return self.detail


class HubAuthError(HubError, PermissionError):
    """401/403: the repo is private or gated and the token is missing, wrong, or not granted access."""

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None,
                 status: int | None = None, gated: bool = False) -> None:
        self.status = status
        self.gated = gated
        super().__init__(message, repo_id=repo_id, url=url)


class HubNotFoundError(HubError, FileNotFoundError):
    """404: no such repo, revision or file."""


class HubOfflineError(HubError, ConnectionError):
    """The Hub cannot be reached: offline mode (``HF_HUB_OFFLINE=1``), no network, or connection refused."""


class HubServerError(HubError, ConnectionError):
    """The Hub kept answering with a server error (5xx, 429) or kept dropping the connection after every retry."""


class HubDiskSpaceError(HubError, OSError):
    """Not enough free disk space for the download (checked before starting, or the disk filled up midway)."""

    def __init__(self, message: str, *, repo_id: str | None = None, needed: int | None = None,
                 free: int | None = None, path: str | Path | None = None) -> None:
        self.needed = needed
        self.free = free
        super().__init__(message, repo_id=repo_id)
        import errno  # here, so this module's header stays the one the other runtime services share

        self.path = Path(path) if path is not None else None
        self.errno = errno.ENOSPC


class HubIntegrityError(HubError, OSError):
    """A downloaded file does not match the size or checksum the Hub announced."""


class UnsupportedModelError(HubError, ValueError):
    """The repo holds nothing Kompakt can use: an architecture the converter does not know, or only pickle weights."""

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None,
                 architecture: str | None = None) -> None:
        self.architecture = architecture
        super().__init__(message, repo_id=repo_id, url=url)


class EvaluationError(KompaktRuntimeError, ValueError):
    """A quality evaluation cannot run as asked: text too short, vocabularies differ, llama.cpp refused a batch."""


class EvalModelError(EvaluationError, OSError):
    """A model to evaluate is missing, unreadable, or not a GGUF file llama.cpp can load."""


class ImatrixComputeError(KompaktRuntimeError, RuntimeError):
    """An importance matrix cannot be computed: llama.cpp refused the model, or its activations were unusable."""


class ImatrixModelError(ImatrixComputeError, OSError):
    """The model to compute an importance matrix with is missing, unreadable, or not a GGUF llama.cpp can load."""
