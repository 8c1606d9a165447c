"""Read a checkpoint's ``config.json`` (and other small JSON side files) with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

#: JSON side files larger than this are refused (a config is a few KB; tokenizer.json a few MB).
MAX_JSON_BYTES = 256 * 1024 * 1024


def read_json(path: str | Path, *, required: bool = True) -> Any:
    """Parse the JSON file ``path``; return None when it is absent and not ``required``."""
    path = Path(path)
    if not path.is_file():
        if required:
            raise CheckpointError(f"{path.name} not found", path=path.parent)
        return None
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError("file is too large to be a JSON side file", path=path)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except CheckpointError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"not valid JSON ({exc})", path=path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def load_config(model_dir: str | Path) -> dict[str, Any]:
    """Return ``model_dir/config.json`` as a dict; raise :class:`CheckpointError` if missing or invalid."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CheckpointError("not a directory", path=model_dir)
    config = read_json(model_dir / "config.json")
    if not isinstance(config, dict):
        raise CheckpointError("config.json is not a JSON object", path=model_dir / "config.json")
    return config
