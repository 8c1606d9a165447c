"""Kompakt's converter: Hugging Face checkpoints in, GGUF files out.

A standalone library. It imports nothing from ``app``, no Qt, no ``llama_cpp`` and no network client.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
