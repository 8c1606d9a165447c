"""app.runtime.llama is the one adapter to llama.cpp: only it loads models and makes contexts and batches, every load
is checked first, failures come back as the caller's one-line errors, and it frees what it made."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.runtime.errors import ChatError, ImatrixComputeError, ImatrixModelError, ModelFileError
from converter.core.progress import CancelToken, Cancelled
from tests.fixtures.broken_gguf import truncate, write_minimal_gguf

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "app" / "runtime" / "llama"
#: llama.cpp's backend start-up, model loading and context/batch creation, plus llama-cpp-python's classes that do it
RESERVED = {"llama_backend_init", "llama_model_load_from_file", "llama_load_model_from_file",
            "llama_model_load_from_splits", "llama_init_from_model", "llama_new_context_with_model",
            "llama_batch_init", "Llama", "LlamaModel", "LlamaContext", "LlamaBatch"}


def _uses(source: str) -> set[str]:
    """The reserved names ``source`` reaches: attributes (``llama_cpp.Llama(``), names imported from llama_cpp
    (aliases included) and string constants (``getattr(llama_cpp, "llama_batch_init")``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in RESERVED:
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llama_cpp"):
            found |= {a.name for a in node.names if a.name in RESERVED}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("llama_") \
                and node.value in RESERVED:
            found.add(node.value)
    return found


def test_the_checker_sees_every_way_of_calling():
    assert _uses("import llama_cpp\nllm = llama_cpp.Llama('m.gguf')") == {"Llama"}
    assert _uses("from llama_cpp import llama_batch_init as mk\nb = mk(8, 0, 1)") == {"llama_batch_init"}
    assert _uses("import llama_cpp as L\nf = getattr(L, 'llama_init_from_model')") == {"llama_init_from_model"}
    assert _uses("from llama_cpp.llama import Llama") == {"Llama"}
    assert _uses("x = 'Llama'\nllama_cpp.llama_decode(ctx, b)") == set()


def test_only_the_adapter_loads_models_and_makes_contexts():
    outside, inside = {}, set()
    for top in ("app", "converter"):
        for path in sorted((ROOT / top).rglob("*.py")):
            used = _uses(path.read_text(encoding="utf-8"))
            if ADAPTER in path.parents:
                inside |= used
            elif used:
                outside[str(path.relative_to(ROOT))] = sorted(used)
    assert not outside, f"only app/runtime/llama may call these: {outside}"
    # and the adapter really is where it happens (so the check above cannot pass by looking in the wrong place)
    assert {"llama_backend_init", "llama_model_load_from_file", "llama_init_from_model", "llama_batch_init"} <= inside


def _forbid_llama_load(monkeypatch):
    import llama_cpp

    def refuse(*_a, **_k):
        raise AssertionError("llama.cpp must not see a file that failed the check")

    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", refuse)


def test_imatrix_refuses_a_corrupt_gguf_before_llama_cpp_sees_it(monkeypatch, tmp_path):
    from app.runtime.imatrix import compute_imatrix
    from converter.errors import ConverterError

    _forbid_llama_load(monkeypatch)
    tiny = write_minimal_gguf(tmp_path / "tiny.gguf")
    bad = truncate(tiny, tmp_path / "cut.gguf", tiny.stat().st_size - 1)
    with pytest.raises(ImatrixModelError) as info:
        compute_imatrix(bad, "some calibration text " * 20, chunk_size=32, threads=1)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: ") and "truncated" in msg and "\n" not in msg
    err = info.value
    assert isinstance(err, ImatrixComputeError) and isinstance(err, OSError) and not isinstance(err, ConverterError)


def test_kompakt_imatrix_names_the_corrupt_file_in_one_line(tmp_path):
    import subprocess
    import sys

    tiny = write_minimal_gguf(tmp_path / "tiny.gguf")
    bad = truncate(tiny, tmp_path / "cut.gguf", 300)
    out = tmp_path / "out.imatrix.gguf"
    r = subprocess.run([sys.executable, "-m", "app", "imatrix", str(bad), "-o", str(out), "--chunk-size", "32"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and not out.exists()
    assert r.stderr.startswith(f"kompakt: error: {bad}: ") and "truncated" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_every_client_checks_the_file_first(monkeypatch, tmp_path):
    from app.runtime.chat.backend import LlamaBackend
    from app.runtime.chat.settings import LoadSettings
    from app.runtime.errors import EvalModelError
    from app.runtime.evaluate.llama_runner import ChunkRunner
    from app.runtime.fit.context import ContextParams
    from app.runtime.fit.measure import measure_buffers

    _forbid_llama_load(monkeypatch)
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model")
    loads = [(lambda: LlamaBackend(bad, LoadSettings(n_ctx=256, n_threads=1)), ModelFileError),
             (lambda: ChunkRunner(bad, n_ctx=64, n_threads=1), EvalModelError),
             (lambda: measure_buffers(bad, ContextParams(n_ctx=64)), ModelFileError)]
    for load, error in loads:
        with pytest.raises(error, match="not a GGUF file") as info:
            load()
        assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_llama_cpp_refusing_a_file_is_one_line_with_its_reason(tmp_path):
    from app.runtime.llama.model import ErrorKinds, open_model

    # a valid container with a tokenizer, but none of the tensors a llama needs: llama.cpp refuses to load it
    path = write_minimal_gguf(tmp_path / "hollow.gguf")
    with pytest.raises(ImatrixModelError) as info:
        open_model(path, errors=ErrorKinds(ImatrixModelError, ImatrixComputeError))
    msg = str(info.value)
    assert msg.startswith(f"{path}: llama.cpp cannot load this model: ") and "\n" not in msg
    assert "see the log" not in msg  # the reason comes from llama.cpp's own error line


def test_cancelled_before_loading(smollm2_gguf):
    from app.runtime.llama.model import open_model

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        open_model(smollm2_gguf, cancel=token)


def test_model_owns_and_frees_its_contexts(smollm2_gguf):
    from app.runtime.llama.context import ContextOptions
    from app.runtime.llama.model import open_model

    with open_model(smollm2_gguf) as model:
        a = model.new_context(ContextOptions(n_ctx=64, n_threads=1))
        b = model.new_context(ContextOptions(n_ctx=128, n_threads=1, n_batch=32))
        assert (a.n_ctx, a.n_batch, b.n_batch) == (256, 64, 32)  # llama.cpp pads the context to 256
        with pytest.raises(ChatError) as info:  # a quantized V cache without flash attention: refused
            model.new_context(ContextOptions(n_ctx=64, n_threads=1, type_v="q8_0", flash_attn="off"))
        msg = str(info.value)
        assert msg.startswith(f"{smollm2_gguf}: llama.cpp cannot create a 64-token context") and "\n" not in msg
        assert model.contexts == [a, b]
    assert model.contexts == [] and model.model is None and a.ctx is None and b.batch.raw is None
    model.close()  # idempotent


def test_one_tokenizer_retries_once_with_the_size_llama_cpp_asks_for(monkeypatch, smollm2_gguf):
    import llama_cpp

    from app.runtime.llama.model import ModelOptions, open_model

    with open_model(smollm2_gguf, ModelOptions(vocab_only=True)) as model:
        text = "<|im_start|>user\nHello, world!<|im_end|>"
        plain = model.tokenize(text, add_special=False, parse_special=True)
        assert plain.dtype.name == "int32" and len(plain) > 3
        real, sizes = llama_cpp.llama_tokenize, []

        def too_small_first(vocab, data, n, buf, n_max, add, parse):
            sizes.append(n_max)
            got = real(vocab, data, n, buf, n_max, add, parse)
            return -got if len(sizes) == 1 else got  # "the buffer is too small: I need this many"

        monkeypatch.setattr(llama_cpp, "llama_tokenize", too_small_first)
        assert model.tokenize(text, add_special=False, parse_special=True).tolist() == plain.tolist()
        assert sizes[1] == len(plain)

        monkeypatch.setattr(llama_cpp, "llama_tokenize", lambda *a: -10 ** 6)  # never satisfied: no endless loop
        with pytest.raises(ChatError, match="failed to tokenize") as info:
            model.tokenize(text, add_special=False, parse_special=True)
        assert str(info.value).startswith(str(smollm2_gguf))
