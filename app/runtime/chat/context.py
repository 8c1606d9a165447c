"""Context-window accounting: does the next request fit, and how many of the oldest turns would have to go?

Pure functions over message lists, so they can be tested without a model. A *turn* is one user message and the
answer that follows it. The system prompt is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

Message = Mapping[str, str]
CountTokens = Callable[[Sequence[Message]], int]


@dataclass(frozen=True)
class ContextUse:
    """How much of the context window a prompt takes."""

    prompt_tokens: int
    max_tokens: int
    n_ctx: int

    @property
    def fits(self) -> bool:
        """True when the prompt plus the whole answer budget fits."""
        return self.prompt_tokens + self.max_tokens <= self.n_ctx

    @property
    def fraction(self) -> float:
        """Share of the context the prompt uses, in [0, 1+]."""
        return self.prompt_tokens / self.n_ctx if self.n_ctx else 1.0


def split_system(messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
    """Split off leading system messages: ``(system, rest)``."""
    i = 0
    while i < len(messages) and messages[i].get("role") == "system":
        i += 1
    return list(messages[:i]), list(messages[i:])


def turn_starts(messages: Sequence[Message]) -> list[int]:
    """Indices (into ``messages``) where a turn starts: each user message after the system prompt."""
    return [i for i, m in enumerate(messages) if m.get("role") == "user"]


def drop_oldest_turns(messages: Sequence[Message], n: int) -> list[Message]:
    """``messages`` without its ``n`` oldest turns; the system prompt stays. ``n`` larger than the number of
    turns drops them all."""
    if n <= 0:
        return list(messages)
    system, rest = split_system(messages)
    starts = [i for i, m in enumerate(rest) if m.get("role") == "user"]
    if n >= len(starts):
        # keep nothing but a trailing turn that has not started with a user message (should not happen)
        return system
    return system + rest[starts[n]:]


def count_turns(messages: Sequence[Message]) -> int:
    """Number of turns (user messages) in ``messages``."""
    return len(turn_starts(messages))


def turns_to_drop(messages: Sequence[Message], count_tokens: CountTokens, *, n_ctx: int, max_tokens: int,
                  keep_last: int = 1) -> int | None:
    """The fewest oldest turns to drop so that ``messages`` (ending with the new request) fits, 0 if it already
    fits, or None when it cannot fit even with only the last ``keep_last`` turns left.

    ``count_tokens`` returns the prompt length of a message list (template rendered, tokenized).
    """
    n_turns = count_turns(messages)
    for n in range(0, max(0, n_turns - keep_last) + 1):
        candidate = drop_oldest_turns(messages, n)
        if count_tokens(candidate) + max_tokens <= n_ctx:
            return n
    return None
