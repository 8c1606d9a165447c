"""The Chat place: streaming answers rendered as Markdown, system prompt and sampling settings, stop, regenerate,
edit and resend, saved conversations, tokens/s and a context meter.

One :class:`app.runtime.chat.ChatWorker` thread owns the model. Its callbacks only append to a locked buffer;
a 30 ms QTimer on the UI thread drains it and checks the pending request's future, so nothing blocks the UI and
no Qt object is touched from the model's thread.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from app.gui.chat.panels import LoadPanel, SamplingPanel
from app.gui.chat.transcript import Transcript
from app.gui.widgets import heading, hint, show_failure
from app.gui.workers import Worker
from converter.core.messages import one_line
from converter.core.progress import CancelToken

log = logging.getLogger(__name__)


def conversations_dir() -> Path:
    """Saved conversations: ``<data dir>/conversations``."""
    from app.runtime import paths

    return paths.data_dir() / "conversations"


class ChatView(QWidget):
    """Chat with one GGUF model at a time."""

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.model_path: Optional[str] = None
        self._chat = None  # ChatWorker, created on first load
        self._future: Optional[Future] = None
        self._on_done: Optional[Callable[[Any, Optional[BaseException]], None]] = None
        self._cancel: Optional[CancelToken] = None
        self._lock = threading.Lock()
        self._pieces: list[str] = []
        self._streaming: Optional[str] = None
        self.messages: list[tuple[str, str]] = []
        self._edit_index: Optional[int] = None
        self._estimate: Optional[Worker] = None
        self.last_stats = None
        self._pump = QTimer(self)
        self._pump.setInterval(30)
        self._pump.timeout.connect(self._drain)

        self.model_label = QLabel("No model loaded")
        self.model_label.setWordWrap(True)
        open_button = QPushButton("Open GGUF…")
        open_button.clicked.connect(self._browse)
        self.load_panel = LoadPanel(settings)
        self.load_panel.reload_requested.connect(lambda: self.model_path and self._load(self.model_path))
        self.sampling_panel = SamplingPanel(settings)
        self.conversation_list = QListWidget()
        self.conversation_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversation_list.itemActivated.connect(self._open_conversation)
        self.conversation_list.itemClicked.connect(self._open_conversation)
        new_button = QPushButton("New chat")
        new_button.clicked.connect(self.new_conversation)

        self.transcript = Transcript()
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Message (Ctrl+Enter sends)")
        self.input.setMaximumHeight(90)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.regen_button = QPushButton("Regenerate")
        self.edit_button = QPushButton("Edit last")
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.regen_button.clicked.connect(self.regenerate)
        self.edit_button.clicked.connect(self.edit_last)
        from PySide6.QtGui import QKeySequence, QShortcut

        QShortcut(QKeySequence("Ctrl+Return"), self.input, activated=self.send)
        self.speed = QLabel("")
        self.speed.setMinimumWidth(110)
        self.context_meter = QProgressBar()
        self.context_meter.setFormat("context %v / %m tokens")
        self.context_meter.setRange(0, 1)
        self.context_meter.setValue(0)
        self.status = hint("")

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("<b>Conversations</b>"))
        lv.addWidget(self.conversation_list, 1)
        lv.addWidget(new_button)

        centre = QWidget()
        cv = QVBoxLayout(centre)
        cv.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(open_button)
        cv.addLayout(top)
        cv.addWidget(self.transcript, 1)
        cv.addWidget(self.input)
        buttons = QHBoxLayout()
        for b in (self.edit_button, self.regen_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        cv.addLayout(buttons)
        meter = QHBoxLayout()
        meter.addWidget(self.speed)
        meter.addWidget(self.context_meter, 1)
        cv.addLayout(meter)
        cv.addWidget(self.status)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.sampling_panel)
        rv.addWidget(self.load_panel)
        rv.addStretch(1)

        split = QSplitter()
        for w in (left, centre, right):
            split.addWidget(w)
        split.setStretchFactor(1, 1)
        split.setSizes([170, 620, 260])
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Chat"))
        layout.addWidget(split, 1)
        self._refresh_conversations()
        self._update_buttons()

    # -- loading --------------------------------------------------------------------------------------------------
    def load_model(self, path: str) -> None:
        """Estimate load settings for ``path`` on a worker, then load it on the chat thread."""
        if self.busy():
            self.status.setText("Stop the current answer before loading another model.")
            return
        self.model_path = path
        self.model_label.setText(f"<b>{Path(path).name}</b> — estimating memory…")
        from app.runtime.load_policy import plan_load

        kv, threads = self.load_panel.kv_type(), self.load_panel.threads.value()

        def estimate(*, progress, cancel):  # noqa: ARG001 - context and GPU layers: the user's settings, as they fit
            return plan_load(path, self.settings, best_effort=True, type_k=kv, type_v=kv, n_threads=threads)

        self._estimate = Worker(estimate, name="chat-estimate")
        self._estimate.succeeded.connect(self._estimated)
        self._estimate.failed.connect(self._estimate_failed)
        self._estimate.start()

    def _estimated(self, plan) -> None:
        self.load_panel.apply_plan(plan)
        if self.model_path:
            self._load(self.model_path)

    def _estimate_failed(self, _message: str) -> None:
        if self.model_path:
            self._load(self.model_path)

    def _load(self, path: str) -> None:
        from app.runtime.chat import ChatWorker

        if self._chat is None:
            self._chat = ChatWorker()
        self.model_label.setText(f"<b>{Path(path).name}</b> — loading…")
        self._cancel = CancelToken()
        future = self._chat.load(path, self.load_panel.load_settings(), sampling=self.sampling_panel.sampling(),
                                 system_prompt=self.sampling_panel.system_prompt(), cancel=self._cancel)
        self._watch(future, self._loaded)

    def _loaded(self, info: Any, error: Optional[BaseException]) -> None:
        if error is not None:
            show_failure(self.model_label, f"{Path(self.model_path or '').name} — could not load:", one_line(error))
            return
        n_ctx = self.load_panel.n_ctx()
        self.model_label.setText(f"<b>{Path(self.model_path or '').name}</b> — ready "
                                 f"(context {n_ctx}, GPU layers {self.load_panel.gpu_layers()})")
        self.context_meter.setRange(0, n_ctx)
        self.context_meter.setValue(0)
        self.messages = []
        self.transcript.show_messages([])

    # -- requests -------------------------------------------------------------------------------------------------
    def busy(self) -> bool:
        """True while a load or an answer is in progress."""
        return self._future is not None

    def send(self) -> None:
        """Send the input (or, after Edit last, replace that message and answer again)."""
        text = self.input.toPlainText().strip()
        if not text or self.busy() or self._chat is None:
            return
        self.input.clear()
        self._apply_sampling()
        if self._edit_index is not None:
            index, self._edit_index = self._edit_index, None
            self.messages = self.messages[:index]
            self._answer("edit_and_resend", index, text, user_text=text)
        else:
            self._answer("send", text, user_text=text)

    def regenerate(self) -> None:
        """Answer the last question again."""
        if self.busy() or self._chat is None or not self.messages:
            return
        self._apply_sampling()
        if self.messages[-1][0] == "assistant":
            self.messages = self.messages[:-1]
        self._answer("regenerate")

    def edit_last(self) -> None:
        """Put the last question back into the input; Send then replaces it and everything after it."""
        users = [i for i, (role, _t) in enumerate(self.messages) if role == "user"]
        if not users or self.busy():
            return
        self._edit_index = users[-1]
        self.input.setPlainText(self.messages[users[-1]][1])
        self.status.setText("Editing your last message: Send replaces it and its answer.")

    def stop(self) -> None:
        """Stop the answer being generated (it keeps what was written so far)."""
        if self._cancel is not None:
            self._cancel.cancel()

    def _apply_sampling(self) -> None:
        sampling, system = self.sampling_panel.sampling(), self.sampling_panel.system_prompt()

        def apply(session) -> None:
            session.sampling = sampling
            session.conversation.system_prompt = system
        self._chat.call(apply)

    def _answer(self, request: str, *args: Any, user_text: Optional[str] = None) -> None:
        if user_text is not None:
            self.messages.append(("user", user_text))
        self._streaming = ""
        self._cancel = CancelToken()
        method = getattr(self._chat, request)
        future = method(*args, on_token=self._piece, cancel=self._cancel)
        self._watch(future, self._answered)

    def _piece(self, text: str) -> None:  # chat thread
        with self._lock:
            self._pieces.append(text)

    def _answered(self, generation: Any, error: Optional[BaseException]) -> None:
        self._streaming = None
        if error is not None:
            if self.messages and self.messages[-1][0] == "user" and "ContextFull" in type(error).__name__:
                self.input.setPlainText(self.messages.pop()[1])
            show_failure(self.status, "Could not answer:", one_line(error))
        else:
            self.messages.append(("assistant", generation.text))
            stats = generation.stats
            self.last_stats = stats
            self.speed.setText(f"{stats.generation_tps:.1f} tokens/s")
            self.context_meter.setRange(0, max(1, stats.n_ctx))
            self.context_meter.setValue(min(stats.context_used, stats.n_ctx))
            self.status.setText("Stopped." if generation.stop_reason == "cancelled" else "")
            self._save()
        self.transcript.show_messages(self.messages)

    # -- conversations --------------------------------------------------------------------------------------------
    def _save(self) -> None:
        from app.runtime.conversations import save_conversation

        directory = conversations_dir()
        self._chat.call(lambda s: save_conversation(s.conversation, directory))
        QTimer.singleShot(300, self._refresh_conversations)

    def _refresh_conversations(self) -> None:
        try:
            from app.runtime.conversations import list_conversations
        except ImportError:
            return
        self.conversation_list.clear()
        for conv in list_conversations(conversations_dir()) if conversations_dir().is_dir() else []:
            entry = QListWidgetItem(conv.display_title())
            entry.setData(256, conv)
            self.conversation_list.addItem(entry)

    def _open_conversation(self, entry: QListWidgetItem) -> None:
        conv = entry.data(256)
        if conv is None or self.busy():
            return
        if self._chat is None or (conv.model and conv.model != self.model_path and Path(conv.model).exists()):
            if conv.model and Path(conv.model).exists():
                self.load_model(conv.model)
                QTimer.singleShot(0, lambda: self._after_load_open(conv))
                return
        self._set_conversation(conv)

    def _after_load_open(self, conv) -> None:
        if self.busy() or self._estimate is not None and self._estimate.is_running():
            QTimer.singleShot(100, lambda: self._after_load_open(conv))
            return
        self._set_conversation(conv)

    def _set_conversation(self, conv) -> None:
        if self._chat is not None:
            self._chat.call(lambda s: s.set_conversation(conv))
        self.sampling_panel.set_system_prompt(conv.system_prompt)
        self.messages = [(m.role, m.content) for m in conv.messages]
        self.transcript.show_messages(self.messages)

    def new_conversation(self) -> None:
        """Start an empty conversation with the current system prompt."""
        if self.busy():
            return
        if self._chat is not None:
            system = self.sampling_panel.system_prompt()
            self._chat.call(lambda s: s.reset(system))
        self.messages = []
        self._edit_index = None
        self.transcript.show_messages([])
        self.context_meter.setValue(0)

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _watch(self, future: Future, on_done: Callable[[Any, Optional[BaseException]], None]) -> None:
        self._future, self._on_done = future, on_done
        self._pump.start()
        self._update_buttons()

    def _drain(self) -> None:
        with self._lock:
            pieces, self._pieces = self._pieces, []
        if pieces and self._streaming is not None:
            self._streaming += "".join(pieces)
            self.transcript.show_messages(self.messages, self._streaming)
        future = self._future
        if future is None or not future.done():
            return
        self._future, on_done = None, self._on_done
        self._pump.stop()
        with self._lock:  # pieces that arrived between the last drain and the end
            rest, self._pieces = "".join(self._pieces), []
        if rest and self._streaming is not None:
            self._streaming += rest
        error = future.exception()
        on_done(None if error else future.result(), error)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy, loaded = self.busy(), self._chat is not None
        self.send_button.setEnabled(loaded and not busy)
        self.stop_button.setEnabled(busy)
        self.regen_button.setEnabled(loaded and not busy)
        self.edit_button.setEnabled(loaded and not busy)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", str(self.settings.resolved_models_dir()),
                                              "GGUF files (*.gguf)")
        if path:
            self.load_model(path)

    def shutdown(self) -> None:
        """Stop any answer and close the model's thread (window closing)."""
        self.stop()
        self._pump.stop()
        if self._chat is not None:
            self._chat.close(timeout=30)
            self._chat = None
        self._future = None
