"""What a chat needs to know to load a model (:class:`LoadSettings`) and to sample answers (:class:`SamplingSettings`).

Both are plain dataclasses with JSON-friendly fields so the GUI can persist them and the CLI can build them from
arguments. Their names, defaults and limits are the settings vocabulary of :mod:`app.runtime.settings` (one meaning
of -1 GPU layers, one thread default, one set of ranges). The context size, GPU layers and flash attention a model
is actually loaded with are decided by the load policy (:func:`app.runtime.load_policy.plan_load`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from app.runtime.errors import SettingsError
from app.runtime.settings import FLASH_ATTN_MODES, Settings, check_choice, check_limit, default_threads
from converter.core.quant_types import KV_CACHE_TYPES, QType


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


@dataclass
class LoadSettings(_JSONFields):
    """How llama.cpp loads the model and sizes its context.

    ``n_gpu_layers``: -1 = auto (as many as fit), else a layer count (see :mod:`app.runtime.settings`);
    ``type_k``/``type_v`` name a :data:`KV_CACHE_TYPES` entry; ``flash_attn`` is ``"auto"``, ``"on"`` or
    ``"off"``; ``lookup`` turns on prompt-lookup speculative decoding (drafts copied from earlier text: faster when
    answers quote the conversation, never changes the answer). The load policy turns -1 and "auto" into the
    concrete values llama.cpp gets.
    """

    n_ctx: int = Settings.context_length
    n_gpu_layers: int = Settings.gpu_layers
    n_threads: int = field(default_factory=default_threads)
    n_batch: int = 512
    type_k: str = Settings.kv_type
    type_v: str = Settings.kv_type
    flash_attn: str = "auto"
    lookup: bool = False
    lookup_ngram: int = 2
    lookup_tokens: int = 10
    #: Refuse to load when the memory-fit estimator says it cannot fit (instead of letting llama.cpp run out).
    check_memory: bool = True

    def validate(self) -> None:
        """Raise :class:`SettingsError` with a clear message if a value cannot work."""
        for name, value in (("context_length", self.n_ctx), ("gpu_layers", self.n_gpu_layers),
                            ("threads", self.n_threads), ("batch", self.n_batch)):
            check_limit(name, value)
        check_choice("K cache type", self.type_k, KV_CACHE_TYPES)
        check_choice("V cache type", self.type_v, KV_CACHE_TYPES)
        check_choice("flash attention", self.flash_attn, FLASH_ATTN_MODES)
        if QType.parse(self.type_v).is_quantized and self.flash_attn == "off":
            raise SettingsError(f"a quantized V cache ({self.type_v}) needs flash attention; use --flash-attn on "
                                f"or auto")


@dataclass
class SamplingSettings(_JSONFields):
    """How the next token is picked. ``temperature`` 0 is greedy; ``seed`` None draws a random seed."""

    temperature: float = Settings.temperature
    top_p: float = Settings.top_p
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    seed: Optional[int] = None
    max_tokens: int = Settings.max_tokens

    @classmethod
    def from_prefs(cls, prefs: Settings, **overrides: Any) -> "SamplingSettings":
        """The user's saved answer settings, then ``overrides`` (None values are ignored)."""
        out = cls(temperature=prefs.temperature, top_p=prefs.top_p, max_tokens=prefs.max_tokens)
        for key, value in overrides.items():
            if value is not None:
                setattr(out, key, value)
        return out

    def validate(self) -> None:
        """Raise :class:`SettingsError` for values llama.cpp's samplers cannot use."""
        for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens"):
            check_limit(name, getattr(self, name))
