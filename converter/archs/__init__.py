"""Architecture registry: pick the :class:`Architecture` for a checkpoint from its ``config.json``.

Each family lives in its own module and is listed in :data:`ARCHITECTURES`; :data:`ALIASES` maps further HF
``architectures`` names to a family's canonical HF name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnsupportedArchitectureError
from .base import Architecture, PlannedTensor
from .gemma import Gemma
from .gemma2 import Gemma2
from .gemma3 import Gemma3
from .lfm2 import Lfm2
from .lfm2moe import Lfm2Moe
from .llama import Llama
from .mistral3 import Mistral3
from .mixtral import Mixtral
from .olmo2 import Olmo2
from .phi3 import Phi3
from .qwen2 import Qwen2
from .qwen3 import Qwen3
from .qwen3moe import Qwen3Moe
from .qwen35 import Qwen35
from .qwen35moe import Qwen35Moe
from .smollm3 import SmolLM3

#: Architecture classes; their ``hf_architectures`` names are registered below.
ARCHITECTURES: list[type[Architecture]] = [Llama, Qwen2, Qwen3, Gemma, Gemma2, Gemma3, Phi3, Qwen3Moe, Mixtral,
                                           SmolLM3, Olmo2, Mistral3, Lfm2, Lfm2Moe, Qwen35,
                                           Qwen35Moe]

#: Extra HF names handled by an existing class: alias -> a name listed in some class's ``hf_architectures``.
ALIASES: dict[str, str] = {
    "MistralForCausalLM": "LlamaForCausalLM",
    "LlamaForCausalLMEagle3": "LlamaForCausalLM",
}

_REGISTRY: dict[str, type[Architecture]] = {}


def register(cls: type[Architecture]) -> type[Architecture]:
    """Register ``cls`` under each of its ``hf_architectures`` names (usable as a class decorator)."""
    for hf_name in cls.hf_architectures:
        _REGISTRY[hf_name] = cls
    return cls


for _cls in ARCHITECTURES:
    register(_cls)


def supported_architectures() -> list[str]:
    """Every HF ``architectures`` name the converter accepts, sorted."""
    return sorted(set(_REGISTRY) | {a for a, target in ALIASES.items() if target in _REGISTRY})


def get_architecture(config: dict[str, Any], path: str | Path | None = None) -> Architecture:
    """The :class:`Architecture` for ``config`` (a parsed config.json); UnsupportedArchitectureError otherwise."""
    names = config.get("architectures") or []
    if isinstance(names, str):
        names = [names]
    for hf_name in names:
        cls = _REGISTRY.get(ALIASES.get(hf_name, hf_name))
        if cls is not None:
            return cls(config, path=path)
    shown = names[0] if names else f"model_type={config.get('model_type')!r} without 'architectures'"
    raise UnsupportedArchitectureError(str(shown), path=path, supported=supported_architectures())


__all__ = ["ALIASES", "ARCHITECTURES", "Architecture", "PlannedTensor", "get_architecture", "register",
           "supported_architectures"]
