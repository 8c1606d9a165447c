"""Kompakt's shared core: the bottom of the layers.

Every layer (``converter``, ``app.runtime``, ``app.cli``, ``app.gui``) may import this package, and it imports
nothing of Kompakt's own. It holds the ideas every layer shares: the errors base (:mod:`.errors`), progress and
cancellation (:mod:`.progress`), the one-line message helper (:mod:`.messages`), human-readable units
(:mod:`.units`) and the one table of ggml types and quantization mixes (:mod:`.quant_types`, here because the GUI
lists, the CLI choices, the runtime and the quantizer's gguf-free workers all read it).

It lives inside ``converter/`` because the converter must stay usable on its own and may import nothing from
``app``; the project's top level is fixed, so the core cannot be a sibling package. ``app.gui`` may import
``converter.core`` and nothing else of ``converter``.
"""
