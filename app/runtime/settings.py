"""User settings: one declared schema, stored as JSON with a version number and step-by-step migrations; and the
settings vocabulary every place shares (the GUI, ``kompakt chat``/``fit``, the chat runtime and the load policy).

The vocabulary, defined here only:

* ``gpu_layers`` / ``n_gpu_layers``: :data:`GPU_LAYERS_AUTO` (-1) means *auto = as many layers as fit* (the load
  policy, :mod:`app.runtime.load_policy`, asks the memory-fit estimator); 0 means CPU only; N offloads N layers
  (llama.cpp's count, the output layer included); :data:`GPU_LAYERS_ALL` (any count above the model's) means all.
* threads: :func:`default_threads` is the one default (llama.cpp's own: the physical cores).
* flash attention: one of :data:`FLASH_ATTN_MODES`; "auto" is resolved by the load policy the way llama.cpp does.
* limits: :data:`LIMITS` holds the range of every numeric setting; :func:`check_limit` validates against it, and the
  GUI's spin boxes take their ranges from it.

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
from app.runtime.errors import SettingsError
from converter.core.quant_types import DEFAULT_MIX, KV_CACHE_DEFAULT, KV_CACHE_OFFERED, get_mix

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
FILE_NAME = "settings.json"

#: ``gpu_layers`` = -1: as many layers as fit in the GPU's free memory (decided by the load policy).
GPU_LAYERS_AUTO = -1
#: A layer count above any model's: every layer on the GPU (llama.cpp takes counts above the model's as "all").
GPU_LAYERS_ALL = 0x7FFFFFFF
#: Flash attention: "auto" lets the load policy decide as llama.cpp does for this device and model.
FLASH_ATTN_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Limit:
    """The allowed range of a numeric setting: ``low <= value <= high`` (``low < value`` when ``low_open``);
    ``high`` None means no upper bound."""

    low: float
    high: Optional[float] = None
    low_open: bool = False
    what: str = ""

    def ui_range(self, step: float = 0.01) -> tuple[float, float]:
        """(minimum, maximum) for a spin box: an open lower bound becomes ``low + step``."""
        return (self.low + step if self.low_open else self.low,
                self.high if self.high is not None else float(2**31 - 1))  # the largest spin box value


#: Every numeric setting's range, by its name in :class:`Settings` and in the chat's load/sampling settings.
LIMITS: dict[str, Limit] = {
    "threads": Limit(1, 1024, what="thread count"),
    "context_length": Limit(256, 1 << 20, what="context size in tokens"),
    "gpu_layers": Limit(GPU_LAYERS_AUTO, GPU_LAYERS_ALL, what="GPU layers (-1 = auto)"),
    "batch": Limit(1, 1 << 16, what="batch size"),
    "temperature": Limit(0.0, 2.0, what="temperature"),
    "top_p": Limit(0.0, 1.0, low_open=True, what="top_p"),
    "top_k": Limit(0, 1 << 20, what="top_k (0 = off)"),
    "min_p": Limit(0.0, 1.0, what="min_p"),
    "repeat_penalty": Limit(0.0, 10.0, low_open=True, what="repeat penalty (1 = off)"),
    "max_tokens": Limit(1, 1 << 20, what="max tokens"),
    "kl_threshold": Limit(0.0, None, low_open=True, what="KL threshold"),
}


def check_limit(name: str, value: float) -> None:
    """Raise :class:`SettingsError` when ``value`` is outside ``LIMITS[name]``."""
    lim = LIMITS[name]
    low_ok = value > lim.low if lim.low_open else value >= lim.low
    if not low_ok or (lim.high is not None and value > lim.high):
        low = f"above {lim.low:g}" if lim.low_open else f"at least {lim.low:g}"
        high = f" and at most {lim.high:g}" if lim.high is not None else ""
        raise SettingsError(f"{lim.what or name} must be {low}{high}, got {value:g}")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise :class:`SettingsError` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise SettingsError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


def default_threads() -> int:
    """Threads for llama.cpp, the one default everywhere: the physical cores, as llama.cpp's own default
    (``cpu_get_num_math``); when they are unknown, llama.cpp's fallback: all logical cores up to 4, else half."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil missing or unable to tell
        n = None
    if n:
        return max(1, n)
    logical = os.cpu_count() or 4
    return logical if logical <= 4 else logical // 2


@dataclass
class Settings:
    """Everything the user can set in the Settings dialog. ``models_dir`` empty means the default location.

    The load and answer fields are the defaults of every chat and fit (GUI and CLI alike); explicit choices
    (a command-line flag, a control in the Fit or Chat view) override them.
    """

    models_dir: str = ""
    threads: int = field(default_factory=default_threads)
    default_quant: str = DEFAULT_MIX.name
    context_length: int = 4096
    kv_type: str = KV_CACHE_DEFAULT
    gpu_layers: int = GPU_LAYERS_AUTO
    kl_threshold: float = 0.05  # quality view: largest acceptable mean KL divergence
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    system_prompt: str = "You are a helpful assistant."

    def resolved_models_dir(self) -> Path:
        """The directory to write models to: the setting if given, else :func:`app.runtime.paths.models_dir`."""
        return Path(self.models_dir).expanduser() if self.models_dir else paths.models_dir()

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first bad field."""
        for name in ("threads", "context_length", "gpu_layers", "temperature", "top_p", "max_tokens",
                     "kl_threshold"):
            check_limit(name, getattr(self, name))
        check_choice("kv_type", self.kv_type, KV_CACHE_OFFERED)
        try:
            get_mix(self.default_quant)
        except ValueError as exc:
            raise SettingsError(f"default_quant: {exc}") from None

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

    Raises :class:`SettingsError` for a document from a newer Kompakt (its fields cannot be trusted to mean the
    same).
    """
    version = int(doc.get("version", 0))
    if version > SCHEMA_VERSION:
        raise SettingsError(f"settings were written by a newer Kompakt (version {version} > {SCHEMA_VERSION})")
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
    except SettingsError as exc:
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
