"""Where Kompakt keeps its files, per operating system, each directory overridable by an environment variable.

=================  ==========================  =====================================================
function           override                    default (platformdirs)
=================  ==========================  =====================================================
``config_dir()``   ``KOMPAKT_CONFIG_DIR``      ``~/.config/kompakt``, ``%APPDATA%\\kompakt``, ...
``data_dir()``     ``KOMPAKT_DATA_DIR``        ``~/.local/share/kompakt``, ...
``cache_dir()``    ``KOMPAKT_CACHE_DIR``       ``~/.cache/kompakt``, ...
``models_dir()``   ``KOMPAKT_MODELS_DIR``      ``data_dir() / "models"`` (our GGUF outputs)
``logs_dir()``     (``KOMPAKT_DATA_DIR``)      ``data_dir() / "logs"`` (the GUI's log file, see app.runtime.logs)
``hf_hub_cache()`` ``HF_HUB_CACHE``/``HF_HOME`` huggingface_hub's standard cache, shared with other tools
=================  ==========================  =====================================================

Every function reads the environment when called (never at import), so tests and the CLI can redirect them.
Nothing is created here; callers ``mkdir(parents=True, exist_ok=True)`` where they write.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "kompakt"


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(os.path.expandvars(value)).expanduser() if value else None


def config_dir() -> Path:
    """User settings (``KOMPAKT_CONFIG_DIR`` overrides)."""
    return _env_path("KOMPAKT_CONFIG_DIR") or Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Persistent application data (``KOMPAKT_DATA_DIR`` overrides)."""
    return _env_path("KOMPAKT_DATA_DIR") or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Disposable caches: imatrix data, probes, thumbnails (``KOMPAKT_CACHE_DIR`` overrides)."""
    return _env_path("KOMPAKT_CACHE_DIR") or Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """Where converted GGUF models go by default (``KOMPAKT_MODELS_DIR`` overrides, else ``data_dir()/models``)."""
    return _env_path("KOMPAKT_MODELS_DIR") or data_dir() / "models"


def logs_dir() -> Path:
    """Where the log files go: ``data_dir()/logs`` (so ``KOMPAKT_DATA_DIR`` moves them too)."""
    return data_dir() / "logs"


def hf_home() -> Path:
    """huggingface_hub's home: ``HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    explicit = _env_path("HF_HOME")
    if explicit is not None:
        return explicit
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def hf_hub_cache() -> Path:
    """The standard Hugging Face model cache (``HF_HUB_CACHE``, legacy ``HUGGINGFACE_HUB_CACHE``, else
    ``hf_home()/hub``), resolved exactly as huggingface_hub does, so downloads are shared with other tools."""
    return _env_path("HF_HUB_CACHE") or _env_path("HUGGINGFACE_HUB_CACHE") or hf_home() / "hub"
