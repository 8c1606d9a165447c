"""Chat with a local GGUF model through llama.cpp.

* :class:`ChatSession` (session.py): load a model, answer/regenerate/edit turns, context accounting, K/V reuse.
* :class:`ChatWorker` (worker.py): one thread owns the session; call it safely from the GUI or the CLI.
* settings.py: :class:`LoadSettings` (context, GPU layers, threads, K/V types, flash attention, prompt lookup) and
  :class:`SamplingSettings`; template.py renders the model's chat template; context.py does the token arithmetic;
  backend.py wraps llama.cpp's low-level API; generate.py is the token loop.
"""

from app.runtime.chat.backend import LoadedModelInfo
from app.runtime.chat.generate import Generation, GenerationStats
from app.runtime.chat.session import ChatSession
from app.runtime.chat.settings import LoadSettings, SamplingSettings
from app.runtime.chat.template import ChatTemplate
from app.runtime.chat.worker import ChatWorker, ReplyStream

__all__ = ["ChatSession", "ChatTemplate", "ChatWorker", "Generation", "GenerationStats", "LoadSettings",
           "LoadedModelInfo", "ReplyStream", "SamplingSettings"]
