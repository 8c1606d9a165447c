"""The chat worker thread and `kompakt chat`: streaming from another thread, cancel, clean shutdown, corrupt files."""

import shutil
import threading

import pytest

from app.runtime.chat import ChatSession, ChatWorker, LoadSettings, SamplingSettings
from app.runtime.errors import ChatError, ModelFileError
from converter.core.progress import CancelToken, Cancelled
from tests.fixtures.broken_gguf import truncate, write_minimal_gguf

pytestmark = pytest.mark.integration
FAST = LoadSettings(n_ctx=512, n_threads=1)  # one thread: see test_chat_session.py
GREEDY = SamplingSettings(temperature=0.0, max_tokens=12)


def _chat_threads():
    return [t for t in threading.enumerate() if t.name.startswith("kompakt-chat")]


def test_worker_streams_cancels_and_stops_cleanly(smollm2_gguf):
    with ChatWorker() as worker:
        with pytest.raises(ChatError, match="no model"):
            worker.send("hi").result(timeout=60)
        reports = []
        info = worker.load(smollm2_gguf, FAST, sampling=GREEDY, progress=reports.append).result(timeout=120)
        assert info.n_ctx == 512 and info.n_vocab == 49152
        assert reports and reports[-1].done == 1.0 and reports[-1].stage == "load model"

        stream = worker.stream("send", "What is the capital of France?")
        pieces = list(stream)
        assert len(pieces) > 1 and "".join(pieces) == stream.result.text

        # requests may come from any thread; the model stays on the worker thread
        seen = {}

        def other_thread():
            seen["thread"] = worker.call(lambda s: threading.current_thread().name).result(timeout=60)
            seen["n"] = worker.call(lambda s: len(s.conversation.messages)).result(timeout=60)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join(60)
        assert seen == {"thread": worker.thread.name, "n": 2}

        worker.call(lambda s: setattr(s.sampling, "max_tokens", 200)).result(timeout=60)
        cancel = CancelToken()
        stream = worker.stream("send", "Write a long story about a dragon.", cancel=cancel)
        got = []
        for piece in stream:
            got.append(piece)
            if len(got) == 2:
                cancel.cancel()
        assert stream.result.stop_reason == "cancelled" and len(stream.result.tokens) < 10
        kept = worker.call(lambda s: s.conversation.messages[-1].content).result(timeout=60)
        assert kept == stream.result.text and kept.startswith("".join(got))

        with pytest.raises(ModelFileError):  # a bad load is an error, and the worker keeps serving
            worker.load(__file__).result(timeout=60)
        assert worker.thread.is_alive()
    assert not worker.thread.is_alive() and not _chat_threads()
    with pytest.raises(ChatError, match="closed"):
        worker.send("hi")


def test_cancelled_load_raises_cancelled(smollm2_gguf):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        ChatSession(smollm2_gguf, FAST, cancel=cancel)


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, smollm2_gguf):
    d = tmp_path_factory.mktemp("bad")
    tiny = write_minimal_gguf(d / "tiny.gguf")
    (d / "notes.gguf").write_text("this is not a model\n" * 20)
    return {
        "half_download": truncate(smollm2_gguf, d / "half.gguf", smollm2_gguf.stat().st_size // 2),
        "cut_header": truncate(tiny, d / "cut.gguf", 200),
        "text": d / "notes.gguf",
        "unknown_arch": write_minimal_gguf(d / "arch.gguf", arch="nosucharch"),  # passes our check, llama.cpp refuses
    }


@pytest.mark.parametrize("case", ["half_download", "cut_header", "text", "unknown_arch"])
def test_corrupt_model_is_a_chat_error(bad_models, case):
    path = bad_models[case]
    with pytest.raises(ChatError) as info:
        ChatSession(path, FAST)
    assert isinstance(info.value, ModelFileError)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg


@pytest.mark.parametrize("case", ["half_download", "unknown_arch"])
def test_cli_reports_corrupt_model_in_one_line(bad_models, case, kompakt):
    path = bad_models[case]
    r = kompakt("chat", path, "--threads", "1", input="hello\n")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kompakt: error:") and path.name in lines[0], r.stderr


def test_cli_chat_streams_commands_and_context_full(smollm2_gguf, tmp_path, kompakt):
    filler = "Reply with one word. " + "blue " * 80
    script = "\n".join([filler, "/stats", filler, "y", "/save", "/quit"]) + "\n"
    r = kompakt("chat", smollm2_gguf, "--ctx", "256", "--max-tokens", "60", "--threads", "1", "--temp", "0",
                "--system", "Be brief.", input=script, env={"KOMPAKT_DATA_DIR": tmp_path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "tok/s" in r.stderr and "conversation:" in r.stderr
    assert "context full" in r.stderr and "drop the oldest 1 turn" in r.stderr
    saved = list((tmp_path / "conversations").glob("*.json"))
    assert len(saved) == 1
    from app.runtime.conversations import load_conversation

    conv = load_conversation(saved[0])
    assert conv.system_prompt == "Be brief." and [m.role for m in conv.messages] == ["user", "assistant"]
