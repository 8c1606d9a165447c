"""The text model inside a multimodal ``...ForConditionalGeneration`` checkpoint.

Such checkpoints keep the language model's settings under ``text_config`` and prefix its tensors with
``language_model.`` (``language_model.model.layers.0...`` in older saves, ``model.language_model.layers.0...`` in
newer ones); the vision tower and projector sit beside it. As llama.cpp's converter does for a text GGUF, the
``text_config`` keys are merged over the top level, ``language_model.`` is dropped from every name and the vision
and projector tensors are not converted (they belong in a separate mmproj file).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Architecture

#: Name fragments of tensors that belong to the vision/audio side (llama.cpp's TextModel.filter_tensors).
NON_TEXT_MARKERS = ("vision_tower.", "vision_model.", "multi_modal_projector.", "audio_tower.", "embed_vision.",
                    "embed_audio.", "visual.")


class TextOfMultimodal(Architecture):
    """Mixin: read ``text_config`` and the ``language_model.`` tensors; drop the vision and projector tensors."""

    #: Text-config defaults that multimodal checkpoints may leave out (filled in when missing).
    text_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        text = config.get("text_config")
        merged = {**config, **text} if isinstance(text, dict) else dict(config)
        for key, value in self.text_defaults.items():
            if merged.get(key) is None:
                merged[key] = value
        super().__init__(merged, **kwargs)

    def skip(self, hf_name: str) -> bool:
        return any(marker in hf_name for marker in NON_TEXT_MARKERS) or super().skip(_text_name(hf_name))

    def map_name(self, hf_name: str) -> str:
        return super().map_name(_text_name(hf_name))


def _text_name(hf_name: str) -> str:
    return hf_name.replace("language_model.", "")
