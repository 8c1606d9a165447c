"""Run a :class:`ChatSession` on one dedicated thread so the GUI and the CLI can use it from any thread.

llama.cpp objects must stay on the thread that made them, so every request (load, send, regenerate, drop turns,
close ...) goes through a queue to the worker thread and comes back as a ``concurrent.futures.Future``. Token
callbacks run on the worker thread (the GUI turns them into Qt signals); :meth:`ChatWorker.stream` turns them into
an iterator for the caller's thread. Cancel an answer with the :class:`CancelToken` you passed in, from any thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from app.runtime.chat.backend import LoadedModelInfo
from app.runtime.chat.generate import Generation
from app.runtime.chat.session import ChatSession
from app.runtime.chat.settings import LoadSettings, SamplingSettings
from app.runtime.errors import ChatError
from converter.core.progress import CancelToken, ProgressCallback

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


class ChatWorker:
    """Owns at most one :class:`ChatSession`, on its own thread. Close it with :meth:`close` (or ``with``)."""

    def __init__(self, name: str = "kompakt-chat") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._session: ChatSession | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # --- plumbing ----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # delivered to the caller through the future
                future.set_exception(exc)
        if self._session is not None:
            self._session.close()
            self._session = None

    def submit(self, fn: Callable[[], T]) -> "Future[T]":
        """Run ``fn()`` on the worker thread; its result or exception arrives through the returned future."""
        if self._closed:
            raise ChatError("the chat worker is closed")
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def _with_session(self, fn: Callable[[ChatSession], T]) -> "Future[T]":
        def call() -> T:
            if self._session is None:
                raise ChatError("no model is loaded")
            return fn(self._session)

        return self.submit(call)

    @property
    def thread(self) -> threading.Thread:
        """The thread that owns the model."""
        return self._thread

    # --- requests ----------------------------------------------------------------------------------------------
    def load(self, model_path: str | Path, settings: LoadSettings | None = None, *,
             sampling: SamplingSettings | None = None, system_prompt: str = "",
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> "Future[LoadedModelInfo]":
        """Load a model (closing the previous one first); the future gives its :class:`LoadedModelInfo`."""
        def job() -> LoadedModelInfo:
            if self._session is not None:
                self._session.close()
                self._session = None
            self._session = ChatSession(model_path, settings, sampling=sampling, system_prompt=system_prompt,
                                        progress=progress, cancel=cancel)
            return self._session.info()

        return self.submit(job)

    def call(self, fn: Callable[[ChatSession], T]) -> "Future[T]":
        """Run ``fn(session)`` on the worker thread (e.g. ``lambda s: s.drop_oldest_turns(2)``)."""
        return self._with_session(fn)

    def send(self, text: str, *, on_token: Callable[[str], None] | None = None,
             cancel: CancelToken | None = None) -> "Future[Generation]":
        """:meth:`ChatSession.send` on the worker thread."""
        return self._with_session(lambda s: s.send(text, on_token=on_token, cancel=cancel))

    def regenerate(self, *, on_token: Callable[[str], None] | None = None,
                   cancel: CancelToken | None = None) -> "Future[Generation]":
        """:meth:`ChatSession.regenerate` on the worker thread."""
        return self._with_session(lambda s: s.regenerate(on_token=on_token, cancel=cancel))

    def edit_and_resend(self, index: int, text: str, *, on_token: Callable[[str], None] | None = None,
                        cancel: CancelToken | None = None) -> "Future[Generation]":
        """:meth:`ChatSession.edit_and_resend` on the worker thread."""
        return self._with_session(lambda s: s.edit_and_resend(index, text, on_token=on_token, cancel=cancel))

    def stream(self, request: str = "send", *args: Any, cancel: CancelToken | None = None,
               **kwargs: Any) -> "ReplyStream":
        """Start ``send``/``regenerate``/``edit_and_resend`` and iterate over its text pieces in this thread.

        ``ReplyStream.result`` holds the :class:`Generation` once the iteration ends; an error is raised from the
        iteration.
        """
        if request not in ("send", "regenerate", "edit_and_resend"):
            raise ValueError(f"cannot stream {request!r}")
        stream = ReplyStream()
        method = getattr(self, request)
        future = method(*args, on_token=stream._put, cancel=cancel, **kwargs)
        future.add_done_callback(stream._finish)
        return stream

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish queued requests, free the model on the worker thread, and stop the thread (idempotent).

        Cancel a running answer first (through its token) if you do not want to wait for it.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("chat worker did not stop within %s s", timeout)

    def __enter__(self) -> "ChatWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplyStream:
    """Iterator over the text pieces of one answer produced on a :class:`ChatWorker` thread."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        self.result: Generation | None = None

    def _put(self, piece: str) -> None:
        self._q.put(("piece", piece))

    def _finish(self, future: Future) -> None:
        self._q.put(("done", future))

    def __iter__(self) -> Iterator[str]:
        while True:
            try:  # a timeout keeps the caller's thread responsive to signals (Ctrl-C)
                kind, value = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "piece":
                yield value
                continue
            exc = value.exception()
            if exc is not None:
                raise exc
            self.result = value.result()
            return
