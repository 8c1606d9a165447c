"""A chat with one local GGUF model: the conversation, its template, and answering, regenerating and editing turns.

The session never drops context silently. Before every answer it renders and tokenizes the whole conversation; if
that prompt plus ``max_tokens`` does not fit the context, it raises :class:`ContextFullError` (saying how many of
the oldest turns would have to go) and changes nothing. The caller may then call :meth:`drop_oldest_turns`.

Because llama.cpp's K/V cache mirrors the last prompt and answer, the next turn shares a long prefix with it and
only the new tokens are evaluated.

A session is single-threaded: use it from one thread only, or through :class:`app.runtime.chat.worker.ChatWorker`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.runtime.chat import context as ctxmath
from app.runtime.chat.backend import LlamaBackend, LoadedModelInfo
from app.runtime.chat.generate import Generation, GenerationStats, TokenCallback, generate
from app.runtime.chat.settings import LoadSettings, SamplingSettings
from app.runtime.chat.template import ChatTemplate
from app.runtime.conversations import Conversation, Message
from app.runtime.errors import ChatError, ContextFullError
from converter.core.progress import CancelToken, Cancelled, ProgressCallback

log = logging.getLogger(__name__)


class ChatSession:
    """A loaded model plus a :class:`Conversation`."""

    def __init__(self, model_path: str | Path, settings: LoadSettings | None = None, *,
                 sampling: SamplingSettings | None = None, system_prompt: str = "",
                 conversation: Conversation | None = None, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> None:
        """Load ``model_path`` with the parameters the load policy makes of ``settings``. Raises
        :class:`~app.runtime.errors.ModelFileError` for a bad file, :class:`~app.runtime.errors.SettingsError` for
        settings out of range, :class:`~app.runtime.errors.InsufficientMemoryError` when they cannot fit,
        :class:`ChatError` when llama.cpp refuses them, ``Cancelled`` if ``cancel`` fires while loading."""
        from app.runtime.load_policy import plan_load  # here: the policy imports this package's settings

        self.sampling = sampling or SamplingSettings()
        self.sampling.validate()
        explicit = settings.to_dict() if settings is not None else {}  # None: the policy's defaults
        plan = plan_load(model_path, best_effort=True, **explicit)
        if plan.params.check_memory:
            plan.ensure_fits()
        self.settings = plan.params  # concrete: GPU layers and flash attention resolved by the load policy
        self.backend = LlamaBackend(model_path, self.settings, progress=progress, cancel=cancel)
        try:
            b = self.backend
            self.template = ChatTemplate(b.chat_template_source(), bos_token=b.token_text(b.bos_token),
                                         eos_token=b.token_text(b.eos_token))
        except BaseException:
            self.backend.close()
            raise
        if self.template.is_fallback:
            log.info("%s has no chat template; using ChatML", Path(model_path).name)
        self._lookup = None
        if self.settings.lookup:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            self._lookup = LlamaPromptLookupDecoding(max_ngram_size=self.settings.lookup_ngram,
                                                     num_pred_tokens=self.settings.lookup_tokens)
        self.conversation = conversation or Conversation(system_prompt=system_prompt)
        self.conversation.model = self.conversation.model or str(model_path)
        self.last_stats: GenerationStats | None = None

    # --- facts -------------------------------------------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return self.backend.n_ctx

    def info(self) -> LoadedModelInfo:
        """Description and sizes of the loaded model."""
        return self.backend.info()

    def prompt_tokens(self, messages: list[dict[str, str]], *, add_generation_prompt: bool = True) -> list[int]:
        """``messages`` rendered with the chat template and tokenized."""
        text = self.template.render(messages, add_generation_prompt=add_generation_prompt)
        return self.backend.tokenize(text)

    def context_use(self, next_message: str | None = None) -> ctxmath.ContextUse:
        """How many tokens the conversation (plus ``next_message``, if given) takes as a prompt."""
        msgs = self.conversation.chat_messages()
        if next_message is not None:
            msgs.append({"role": "user", "content": next_message})
        return ctxmath.ContextUse(len(self.prompt_tokens(msgs)), self.sampling.max_tokens, self.n_ctx)

    def turns_to_drop_for(self, text: str) -> int | None:
        """How many oldest turns must go before ``text`` can be sent (0: it fits; None: it never fits)."""
        msgs = self.conversation.chat_messages() + [{"role": "user", "content": text}]
        return ctxmath.turns_to_drop(msgs, self._count, n_ctx=self.n_ctx, max_tokens=self.sampling.max_tokens)

    def _count(self, messages) -> int:
        return len(self.prompt_tokens(list(messages)))

    # --- answering ---------------------------------------------------------------------------------------------
    def send(self, text: str, *, on_token: TokenCallback | None = None,
             cancel: CancelToken | None = None) -> Generation:
        """Add the user message ``text`` and answer it. Raises :class:`ContextFullError` (nothing changed) when the
        prompt plus ``max_tokens`` would not fit. A cancel keeps the partial answer (``stop_reason`` "cancelled")."""
        history = list(self.conversation.messages)
        if history and history[-1].role == "user":
            raise ChatError("the last message has no answer yet; regenerate it or edit it instead")
        return self._answer(history + [Message("user", text)], on_token, cancel)

    def regenerate(self, *, on_token: TokenCallback | None = None,
                   cancel: CancelToken | None = None) -> Generation:
        """Replace the last answer with a new one (or answer a trailing unanswered user message)."""
        history = list(self.conversation.messages)
        if history and history[-1].role == "assistant":
            history.pop()
        if not history or history[-1].role != "user":
            raise ChatError("there is no message to answer again")
        return self._answer(history, on_token, cancel)

    def edit_and_resend(self, index: int, text: str, *, on_token: TokenCallback | None = None,
                        cancel: CancelToken | None = None) -> Generation:
        """Replace user message ``index`` (in ``conversation.messages``) with ``text``, drop everything after it,
        and answer it."""
        msgs = self.conversation.messages
        if not 0 <= index < len(msgs) or msgs[index].role != "user":
            raise ChatError(f"message {index} is not a user message")
        return self._answer(list(msgs[:index]) + [Message("user", text)], on_token, cancel)

    def _answer(self, history: list[Message], on_token: TokenCallback | None,
                cancel: CancelToken | None) -> Generation:
        system = [{"role": "system", "content": self.conversation.system_prompt}] \
            if self.conversation.system_prompt else []
        msgs = system + [{"role": m.role, "content": m.content} for m in history]
        prompt = self.prompt_tokens(msgs)
        max_tokens = self.sampling.max_tokens
        if len(prompt) + max_tokens > self.n_ctx:
            drop = ctxmath.turns_to_drop(msgs, self._count, n_ctx=self.n_ctx, max_tokens=max_tokens)
            raise ContextFullError(prompt_tokens=len(prompt), max_tokens=max_tokens, n_ctx=self.n_ctx,
                                   turns_to_drop=drop)
        try:
            result = generate(self.backend, prompt, self.sampling, on_token=on_token, cancel=cancel,
                              lookup=self._lookup, lookup_max=self.settings.lookup_tokens)
        except Cancelled:  # stopped while reading the prompt: an empty, cancelled answer
            stats = GenerationStats(len(prompt), 0, 0.0, 0, 0.0, len(self.backend.cached), self.n_ctx)
            result = Generation("", [], "cancelled", stats)
        history.append(Message("assistant", result.text, result.stop_reason, result.stats.to_dict()))
        self.conversation.messages = history
        self.last_stats = result.stats
        return result

    # --- history -----------------------------------------------------------------------------------------------
    def drop_oldest_turns(self, n: int) -> int:
        """Remove the ``n`` oldest turns (user message + answer); the system prompt stays. Returns how many went."""
        msgs = self.conversation.messages
        starts = [i for i, m in enumerate(msgs) if m.role == "user"]
        n = max(0, min(n, len(starts)))
        if n:
            self.conversation.messages = list(msgs[starts[n]:]) if n < len(starts) else []
        return n

    def reset(self, system_prompt: str | None = None) -> None:
        """Start a new, empty conversation (keeping the system prompt unless a new one is given)."""
        keep = self.conversation.system_prompt if system_prompt is None else system_prompt
        self.conversation = Conversation(system_prompt=keep, model=self.conversation.model,
                                         sampling=self.sampling.to_dict())
        self.last_stats = None

    def set_conversation(self, conversation: Conversation) -> None:
        """Continue ``conversation`` (e.g. one loaded from disk)."""
        self.conversation = conversation
        self.last_stats = None

    def close(self) -> None:
        """Free the model (idempotent)."""
        self.backend.close()

    def __enter__(self) -> "ChatSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
