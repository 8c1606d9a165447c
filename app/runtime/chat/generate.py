"""Generate an answer token by token: sampler chain, streaming UTF-8 text, stop/cancel, speed figures, and optional
prompt-lookup speculative decoding.

Prompt lookup (``llama_cpp.llama_speculative.LlamaPromptLookupDecoding``) guesses the next tokens by finding the
last n-gram earlier in the text and copying what followed it. The guesses are evaluated in one batch with the real
token; each is kept only while the sampler, run at its position, picks that very token. So the answer is exactly
what plain decoding would produce, just sooner when answers repeat the conversation.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from app.runtime.chat.backend import LlamaBackend
from app.runtime.chat.settings import SamplingSettings
from converter.core.progress import CancelToken, Cancelled

TokenCallback = Callable[[str], None]
LLAMA_DEFAULT_SEED = 0xFFFFFFFF


@dataclass
class GenerationStats:
    """Speed and size figures of one answer."""

    prompt_tokens: int  # tokens in the whole prompt
    prompt_evaluated: int  # of those, evaluated now (the rest came from the K/V cache)
    prompt_seconds: float
    generated_tokens: int
    generation_seconds: float
    context_used: int  # tokens in the context after the answer
    n_ctx: int
    drafted: int = 0  # prompt-lookup guesses evaluated
    accepted: int = 0  # ... and kept

    @property
    def prompt_tps(self) -> float:
        """Prompt evaluation speed, tokens per second (0 when nothing was evaluated)."""
        return self.prompt_evaluated / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def generation_tps(self) -> float:
        """Generation speed, tokens per second."""
        return self.generated_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0

    @property
    def context_fraction(self) -> float:
        """Share of the context window in use."""
        return self.context_used / self.n_ctx if self.n_ctx else 0.0

    def to_dict(self) -> dict:
        """JSON-friendly figures, speeds included."""
        d = asdict(self)
        d.update(prompt_tps=round(self.prompt_tps, 2), generation_tps=round(self.generation_tps, 2))
        return d

    def summary(self) -> str:
        """One line for a terminal or status bar."""
        line = (f"prompt {self.prompt_evaluated} tok @ {self.prompt_tps:.1f} tok/s, "
                f"answer {self.generated_tokens} tok @ {self.generation_tps:.1f} tok/s, "
                f"context {self.context_used}/{self.n_ctx} ({100 * self.context_fraction:.0f}%)")
        if self.drafted:
            line += f", lookup kept {self.accepted}/{self.drafted}"
        return line


@dataclass
class Generation:
    """The result of one generation: the text, the tokens, why it stopped and how fast it went."""

    text: str
    tokens: list[int]
    stop_reason: str  # "eos", "max_tokens" or "cancelled"
    stats: GenerationStats


class _Sampler:
    """A llama.cpp sampler chain built from :class:`SamplingSettings` (freed by :meth:`close`)."""

    def __init__(self, backend: LlamaBackend, s: SamplingSettings, history: Sequence[int]) -> None:
        import llama_cpp as ll

        self._ll = ll
        self._ctx = backend.context.ctx
        self.chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        add = lambda smpl: ll.llama_sampler_chain_add(self.chain, smpl)  # noqa: E731 - chain takes ownership
        if s.repeat_penalty != 1.0 and s.repeat_last_n != 0:
            add(ll.llama_sampler_init_penalties(backend.n_vocab, s.repeat_last_n, s.repeat_penalty, 0.0, 0.0))
            for t in history[-s.repeat_last_n:] if s.repeat_last_n > 0 else history:
                ll.llama_sampler_accept(self.chain, t)
        if s.temperature <= 0:
            add(ll.llama_sampler_init_greedy())
        else:
            if s.top_k > 0:
                add(ll.llama_sampler_init_top_k(s.top_k))
            if s.top_p < 1.0:
                add(ll.llama_sampler_init_top_p(s.top_p, 1))
            if s.min_p > 0.0:
                add(ll.llama_sampler_init_min_p(s.min_p, 1))
            add(ll.llama_sampler_init_temp(s.temperature))
            add(ll.llama_sampler_init_dist(LLAMA_DEFAULT_SEED if s.seed is None else s.seed & 0xFFFFFFFF))

    def sample(self, idx: int) -> int:
        """Sample (and accept) the token after batch position ``idx``."""
        return self._ll.llama_sampler_sample(self.chain, self._ctx, idx)

    def close(self) -> None:
        self._ll.llama_sampler_free(self.chain)


def generate(backend: LlamaBackend, prompt: Sequence[int], sampling: SamplingSettings, *,
             on_token: TokenCallback | None = None, cancel: CancelToken | None = None,
             lookup: object | None = None, lookup_max: int = 10) -> Generation:
    """Answer ``prompt`` (token ids): evaluate what the cache lacks, then sample until an end-of-generation token,
    ``sampling.max_tokens`` tokens, or ``cancel``.

    ``on_token`` receives each new piece of text (whole UTF-8 characters) as it is produced. A cancel during the
    prompt raises :class:`Cancelled`; a cancel during the answer stops it and returns what was produced so far
    (``stop_reason == "cancelled"``). ``lookup`` is a draft model such as ``LlamaPromptLookupDecoding``.
    """
    if lookup is not None:
        import numpy as np
    prompt = list(prompt)
    if len(prompt) + sampling.max_tokens > backend.n_ctx:
        raise ValueError("prompt plus max_tokens exceeds the context; check before calling generate()")
    t0 = time.perf_counter()
    evaluated = backend.prefill(prompt, cancel=cancel)
    t1 = time.perf_counter()
    sampler = _Sampler(backend, sampling, prompt)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    out: list[int] = []
    pieces: list[str] = []
    drafted = accepted = 0
    limit = sampling.max_tokens

    def take(token: int) -> str | None:
        """Handle one chosen token; return a stop reason or None to go on."""
        if backend.is_eog(token):
            return "eos"
        out.append(token)
        text = decoder.decode(backend.piece(token))
        if text:
            pieces.append(text)
            if on_token is not None:
                on_token(text)
        if len(out) >= limit:
            return "max_tokens"
        if cancel is not None and cancel.cancelled:
            return "cancelled"
        return None

    try:
        pending = sampler.sample(-1)
        n_sampled = 1
        while True:
            stop = take(pending)
            if stop:
                break
            drafts: list[int] = []
            if lookup is not None:
                room = min(lookup_max, limit - len(out) - 1, backend.n_ctx - len(backend.cached) - 2,
                           backend.n_batch - 1)
                if room > 0:
                    guess = lookup(np.asarray(prompt + out, dtype=np.intc))
                    drafts = [int(t) for t in guess[:room]]
            backend.decode([pending] + drafts, all_logits=bool(drafts))
            drafted += len(drafts)
            pending = sampler.sample(0)
            n_sampled += 1
            n_ok = 0
            while n_ok < len(drafts) and pending == drafts[n_ok]:
                n_ok += 1
                stop = take(pending)
                if stop:
                    break
                pending = sampler.sample(n_ok)
                n_sampled += 1
            accepted += n_ok
            if n_ok < len(drafts):
                backend.truncate(len(backend.cached) - (len(drafts) - n_ok))
                if len(backend.cached) < len(prompt) + len(out):  # this model's cache cannot be cut: rebuild it
                    backend.prefill(prompt + out)
            if stop:
                break
    finally:
        sampler.close()
    tail = decoder.decode(b"", final=True)
    if tail:
        pieces.append(tail)
        if on_token is not None:
            on_token(tail)
    t2 = time.perf_counter()
    stats = GenerationStats(prompt_tokens=len(prompt), prompt_evaluated=evaluated, prompt_seconds=t1 - t0,
                            generated_tokens=n_sampled, generation_seconds=t2 - t1,
                            context_used=len(prompt) + len(out), n_ctx=backend.n_ctx,
                            drafted=drafted, accepted=accepted)
    return Generation("".join(pieces), out, stop, stats)


__all__ = ["Cancelled", "Generation", "GenerationStats", "generate"]
