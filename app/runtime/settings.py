"""User settings: one declared schema, stored as JSON with a version number and step-by-step migrations.

The file is ``settings.json`` in :func:`app.runtime.paths.config_dir` (``KOMPAKT_CONFIG_DIR`` overrides). The
Hugging Face token is *not* stored here: it lives in huggingface_hub's own token store (see
:mod:`app.runtime.hub.auth`); :func:`masked_token` gives a safe form to show. Window geometry is not a setting
either: the GUI keeps it apart (QSettings).

Reading never fails the app: a missing file gives the defaults, an unreadable or corrupt one is moved aside to
``settings.json.bad`` (logged) and the defaults are used. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

from app.runtime import paths
from converter.core.quant_types import DEFAULT_MIX, KV_CACHE_OFFERED, get_mix

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
FILE_NAME = "settings.json"


def default_threads() -> int:
    """Physical cores when known (llama.cpp is fastest there), else logical cores, at least 1."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil missing or unable to tell
        n = None
    return max(1, n or os.cpu_count() or 1)


@dataclass
class Settings:
    """Everything the user can set in the Settings dialog. ``models_dir`` empty means the default location."""

    models_dir: str = ""
    threads: int = field(default_factory=default_threads)
    default_quant: str = DEFAULT_MIX.name
    context_length: int = 4096
    kv_type: str = "f16"
    gpu_layers: int = -1  # -1: as many as the estimator says fit
    kl_threshold: float = 0.05  # quality view: largest acceptable mean KL divergence
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    system_prompt: str = "You are a helpful assistant."

    def resolved_models_dir(self) -> Path:
        """The directory to write models to: the setting if given, else :func:`app.runtime.paths.models_dir`."""
        return Path(self.models_dir).expanduser() if self.models_dir else paths.models_dir()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.context_length < 64:
            raise ValueError("context_length must be at least 64 tokens")
        if self.kv_type not in KV_CACHE_OFFERED:
            raise ValueError(f"kv_type must be one of {', '.join(KV_CACHE_OFFERED)}")
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError("temperature must be between 0 and 5")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.kl_threshold <= 0:
            raise ValueError("kl_threshold must be positive")
        get_mix(self.default_quant)  # raises UnknownTypeError (a ValueError) for unknown names

    def to_json(self) -> dict[str, Any]:
        """The document written to disk (with the schema version)."""
        return {"version": SCHEMA_VERSION, **asdict(self)}


# -- migrations: each takes a document of version N and returns one of version N + 1 ------------------------------

def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (unversioned) called the models directory ``output_dir`` and the context ``n_ctx``."""
    doc = dict(doc)
    if "output_dir" in doc:
        doc["models_dir"] = doc.pop("output_dir")
    if "n_ctx" in doc:
        doc["context_length"] = doc.pop("n_ctx")
    return doc


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 2 split the single ``cache_type`` into ``kv_type`` and made ``gpu_layers`` -1 mean automatic."""
    doc = dict(doc)
    if "cache_type" in doc:
        doc["kv_type"] = str(doc.pop("cache_type")).lower()
    if doc.get("gpu_layers") is None:
        doc["gpu_layers"] = -1
    return doc


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1, 1: _v1_to_v2}


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored document of any older version up to :data:`SCHEMA_VERSION`.

    Raises ValueError for a document from a newer Kompakt (its fields cannot be trusted to mean the same).
    """
    version = int(doc.get("version", 0))
    if version > SCHEMA_VERSION:
        raise ValueError(f"settings were written by a newer Kompakt (version {version} > {SCHEMA_VERSION})")
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    doc["version"] = SCHEMA_VERSION
    return doc


def settings_path() -> Path:
    """Where the settings file lives."""
    return paths.config_dir() / FILE_NAME


def from_document(doc: dict[str, Any]) -> Settings:
    """Settings from a (migrated) document: unknown keys are dropped, wrong types fall back to the default."""
    doc = migrate(dict(doc))
    defaults = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name not in doc:
            continue
        want = type(getattr(defaults, f.name))
        value = doc[f.name]
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError(f.name)
            values[f.name] = want(value)
        except (TypeError, ValueError):
            log.warning("settings: ignoring bad value for %s", f.name)
    settings = Settings(**values)
    try:
        settings.validate()
    except ValueError as exc:
        log.warning("settings: %s; using the defaults", exc)
        return defaults
    return settings


def load(path: Optional[Path] = None) -> Settings:
    """Read the settings; defaults when there is no file; a corrupt file is moved to ``*.bad`` and logged."""
    path = path or settings_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        log.warning("settings: cannot read %s (%s); using the defaults", path, exc.strerror)
        return Settings()
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return from_document(doc)
    except ValueError as exc:
        bad = path.with_name(path.name + ".bad")
        log.warning("settings: %s is unusable (%s); moved to %s, using the defaults", path, exc, bad.name)
        try:
            os.replace(path, bad)
        except OSError:
            pass
        return Settings()


def save(settings: Settings, path: Optional[Path] = None) -> Path:
    """Validate and write ``settings`` atomically; returns the path."""
    settings.validate()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(settings.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def masked_token(token: Optional[str]) -> str:
    """A token shown safely: ``hf_…abcd`` (prefix and last four characters), or "" when there is none."""
    if not token:
        return ""
    if len(token) <= 8:
        return "•" * len(token)
    prefix = token[:3] if token.startswith("hf_") else ""
    return f"{prefix}…{token[-4:]}"
