"""The one place Kompakt talks to llama.cpp's backend (through llama-cpp-python's low-level API).

Only this package initialises the backend, loads models, creates contexts and batches; chat, evaluation, importance
matrices, the fit measurement (and the coming server, RPC workers and speculative decoding) are its clients.

- :mod:`.process`: ``llama_backend_init`` once per process, after the log handler is in place.
- :mod:`.log`: llama.cpp's log routed to Python logging; its error lines explain a failed load.
- :mod:`.model_file`: the GGUF check that runs in front of every load, so a bad file is one line, not an abort.
- :mod:`.model`: :func:`~.model.open_model` returns a :class:`~.model.LoadedModel` that owns the model, its
  contexts and their batches, tokenizes (one retry policy) and frees everything on close (a context manager).
- :mod:`.context`: :class:`~.context.Context` and :class:`~.context.Batch`, cancel via llama.cpp's abort callback.

Failures come back as the caller's runtime errors (:class:`~.model.ErrorKinds`): a bad file as its file error, a
refusal by llama.cpp as its failure error, a cancel as :class:`~converter.core.progress.Cancelled`.
"""
