"""What a chat needs to know to load a model (:class:`LoadSettings`) and to sample answers (:class:`SamplingSettings`).

Both are plain dataclasses with JSON-friendly fields so the GUI can persist them and the CLI can build them from
arguments. ``LoadSettings.defaults_for`` is the single place that picks context size / GPU layers / threads for a
model; the memory-fit estimator plugs in there.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.runtime.errors import ChatError
from converter.core.quant_types import KV_CACHE_TYPES, QType

FLASH_ATTN_MODES = ("auto", "on", "off")


class _JSONFields:
    """``to_dict``/``from_dict`` for a settings dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from :meth:`to_dict` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


def default_threads() -> int:
    """Threads for generation: the physical cores, at least 1 (one per core beats hyper-threads for llama.cpp)."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unable to tell
        cores = None
    return max(1, cores or (os.cpu_count() or 2) // 2)


@dataclass
class LoadSettings(_JSONFields):
    """How llama.cpp loads the model and sizes its context.

    ``n_gpu_layers`` = -1 offloads every layer; ``type_k``/``type_v`` name a :data:`KV_CACHE_TYPES` entry;
    ``flash_attn`` is ``"auto"``, ``"on"`` or ``"off"``; ``lookup`` turns on prompt-lookup speculative decoding
    (drafts copied from earlier text: faster when answers quote the conversation, never changes the answer).
    """

    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int = field(default_factory=default_threads)
    n_batch: int = 512
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: str = "auto"
    lookup: bool = False
    lookup_ngram: int = 2
    lookup_tokens: int = 10
    #: Refuse to load when the memory-fit estimator says it cannot fit (instead of letting llama.cpp run out).
    check_memory: bool = True

    def validate(self) -> None:
        """Raise :class:`ChatError` with a clear message if a value cannot work."""
        if self.n_ctx < 16:
            raise ChatError(f"context size {self.n_ctx} is too small (at least 16 tokens)")
        if self.n_threads < 1:
            raise ChatError(f"thread count must be at least 1, got {self.n_threads}")
        if self.n_batch < 1:
            raise ChatError(f"batch size must be at least 1, got {self.n_batch}")
        for name in ("type_k", "type_v"):
            value = getattr(self, name)
            if value not in KV_CACHE_TYPES:
                raise ChatError(f"unknown K/V cache type {value!r} (choose from {', '.join(KV_CACHE_TYPES)})")
        if self.flash_attn not in FLASH_ATTN_MODES:
            raise ChatError(f"flash attention must be one of {', '.join(FLASH_ATTN_MODES)}, got {self.flash_attn!r}")
        if QType.parse(self.type_v).is_quantized and self.flash_attn == "off":
            raise ChatError(f"a quantized V cache ({self.type_v}) needs flash attention; use --flash-attn on or auto")

    @classmethod
    def defaults_for(cls, model_path: str | Path, **overrides: Any) -> "LoadSettings":
        """Settings for ``model_path``: our defaults, then ``overrides`` (None values are ignored), then the context
        size and GPU layers the user left open chosen by the memory-fit estimator (:mod:`.memory`).

        This is the one place that chooses context size and GPU layers for a model.
        """
        from .memory import choose

        settings = cls()
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        choose(model_path, settings, ctx_given=overrides.get("n_ctx") is not None,
               layers_given=overrides.get("n_gpu_layers") is not None)
        return settings


@dataclass
class SamplingSettings(_JSONFields):
    """How the next token is picked. ``temperature`` 0 is greedy; ``seed`` None draws a random seed."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    seed: int | None = None
    max_tokens: int = 512

    def validate(self) -> None:
        """Raise :class:`ChatError` for values llama.cpp's samplers cannot use."""
        if self.temperature < 0:
            raise ChatError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ChatError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.min_p <= 1:
            raise ChatError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.top_k < 0:
            raise ChatError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.repeat_penalty <= 0:
            raise ChatError(f"repeat penalty must be > 0 (1 = off), got {self.repeat_penalty}")
        if self.max_tokens < 1:
            raise ChatError(f"max tokens must be at least 1, got {self.max_tokens}")
