"""Import the heavy modules the background jobs use, once, before the window shows.

Importing an extension module (its ``dlopen``) holds Python's GIL for the whole load, which would freeze the UI
thread for up to a second if a worker thread did it mid-job. Doing it at start-up, behind the first paint, keeps
every later job from blocking the UI. The GUI calls :func:`warm_imports`; the list lives here because the
modules are the runtime's and the converter's, which the GUI does not import itself.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

MODULES = (
    "numpy", "gguf", "converter.convert", "converter.quantize", "converter.convert_quantized",
    "converter.tokenizer", "converter.tokenizer.bpe", "converter.tokenizer.sentencepiece", "tokenizers",
    "sentencepiece", "concurrent.futures.process", "multiprocessing.synchronize", "app.runtime.sources",
)

_done = False


def warm_imports() -> None:
    """Import :data:`MODULES` (missing optional ones are skipped); idempotent."""
    global _done
    if _done:
        return
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.debug("warm import %s skipped: %s", name, exc)
    _done = True
