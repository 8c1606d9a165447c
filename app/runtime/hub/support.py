"""Does our converter know a checkpoint's architecture? One place asks the converter's registry.

``converter.archs.get_architecture(config, path)`` raises ``UnsupportedArchitectureError`` for an architecture it
cannot convert, so the Hub code can refuse a repo (and name alternatives) before downloading anything.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

from converter.errors import ConverterError, UnsupportedArchitectureError

log = logging.getLogger(__name__)


def architecture_name(config: Mapping[str, Any] | None) -> str | None:
    """The checkpoint's architecture as the Hub shows it: ``architectures[0]``, else ``model_type``."""
    if not config:
        return None
    archs = config.get("architectures")
    if isinstance(archs, (list, tuple)) and archs and isinstance(archs[0], str):
        return archs[0]
    model_type = config.get("model_type")
    return model_type if isinstance(model_type, str) else None


def support_problem(config: Mapping[str, Any]) -> Optional[str]:
    """Why the converter cannot take this ``config.json`` content (one line), or None when it can."""
    from converter.archs import get_architecture

    try:
        get_architecture(dict(config), None)
    except UnsupportedArchitectureError as exc:
        return f"Kompakt's converter does not support the {exc.architecture} architecture"
    except (ConverterError, KeyError, TypeError, ValueError) as exc:  # known name, but a config it cannot use
        log.debug("architecture check failed for %s: %s", architecture_name(config), exc)
        return f"Kompakt's converter knows {architecture_name(config)} but cannot use this config.json: {exc}"
    return None

