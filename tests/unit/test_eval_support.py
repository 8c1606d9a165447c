"""Evaluation plumbing without llama.cpp: text chunking, the base-log-prob cache, the recommendation helper."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.runtime.errors import EvaluationError
from app.runtime.evaluate import EvalText, default_text_path, recommend
from app.runtime.evaluate.base_cache import BaseCache, cache_size, clear_cache, default_cache_root
from app.runtime.evaluate.logprobs import PositionStats, base_record
from app.runtime.evaluate.results import CandidateResult, EvaluatedModel
from app.runtime.evaluate.stats import summarize
from app.runtime.evaluate.text import chunk, chunk_count, scored_targets


def test_default_text_is_bundled_and_documented():
    path = default_text_path()
    text = EvalText.load()
    assert text.name == path.name and len(text.data) > 100_000
    assert text.sha256 in (path.parent / "SOURCE.md").read_text()


def test_text_errors_are_one_line(tmp_path):
    with pytest.raises(EvaluationError, match="cannot read"):
        EvalText.load(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(EvaluationError, match="empty"):
        EvalText.load(tmp_path / "empty.txt")


def test_chunking_like_llama_perplexity():
    assert chunk_count(1000, 128, None) == 7
    assert chunk_count(1000, 128, 3) == 3 and chunk_count(1000, 128, 50) == 7
    with pytest.raises(EvaluationError, match="at least 256"):
        chunk_count(255, 128, None)
    tokens = np.arange(1000, dtype=np.int32)
    assert list(chunk(tokens, 1, 8)) == list(range(8, 16))
    # positions 4..6 of chunk 1 (tokens 12..14) predict tokens 13..15
    assert list(scored_targets(tokens, 1, 8)) == [13, 14, 15]


def _record(seed: int, n: int = 5, vocab: int = 300):
    rng = np.random.default_rng(seed)
    return base_record((rng.standard_normal((n, vocab)) * 3).astype(np.float32), rng.integers(0, vocab, n))


def test_cache_round_trip_and_key(tmp_path):
    model = tmp_path / "base.gguf"
    model.write_bytes(b"GGUF" + bytes(100))
    text = EvalText.from_bytes(b"hello world")
    cache = BaseCache(model, text, 128, root=tmp_path / "cache")
    assert cache.load_tokens() is None and cache.load_chunk(0) is None
    cache.save_tokens(np.arange(10, dtype=np.int32), 300, n_params=7)
    tokens, meta = cache.load_tokens()
    assert list(tokens) == list(range(10)) and meta["n_vocab"] == 300 and meta["n_params"] == 7
    rec = _record(0)
    cache.save_chunk(0, rec)
    back = cache.load_chunk(0)
    for name, arr in rec.arrays().items():
        np.testing.assert_array_equal(getattr(back, name), arr)
        assert getattr(back, name).dtype == arr.dtype
    assert cache.has_chunk(0) and not cache.has_chunk(1)
    # a different text or context is a different entry; the same inputs find the same one
    assert BaseCache(model, EvalText.from_bytes(b"other"), 128, root=tmp_path / "cache").dir != cache.dir
    assert BaseCache(model, text, 256, root=tmp_path / "cache").dir != cache.dir
    assert BaseCache(model, text, 128, root=tmp_path / "cache").dir == cache.dir
    assert cache_size(tmp_path / "cache") > 0


def test_changed_base_file_gets_a_new_entry_and_the_stale_one_goes(tmp_path):
    model = tmp_path / "base.gguf"
    model.write_bytes(b"GGUF" + bytes(100))
    text = EvalText.from_bytes(b"hello")
    old = BaseCache(model, text, 64, root=tmp_path / "c")
    old.save_tokens(np.arange(4, dtype=np.int32), 300)
    model.write_bytes(b"GGUF" + bytes(200))
    os.utime(model, ns=(1, 1))
    new = BaseCache(model, text, 64, root=tmp_path / "c")
    assert new.dir != old.dir
    new.save_tokens(np.arange(4, dtype=np.int32), 300)
    assert not old.dir.exists() and new.dir.exists()


def test_corrupt_cached_chunk_is_ignored(tmp_path):
    model = tmp_path / "base.gguf"
    model.write_bytes(b"GGUF")
    cache = BaseCache(model, EvalText.from_bytes(b"x"), 64, root=tmp_path / "c")
    cache.save_tokens(np.arange(4, dtype=np.int32), 300)
    cache.save_chunk(0, _record(1))
    path = cache.dir / "chunk-00000.npz"
    path.write_bytes(path.read_bytes()[:50])
    assert cache.load_chunk(0) is None
    assert clear_cache(tmp_path / "c") > 0 and not (tmp_path / "c").exists()


def test_default_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KOMPAKT_CACHE_DIR", str(tmp_path))
    assert default_cache_root() == tmp_path / "eval-base"


def _result(name: str, size: int, kl: float) -> CandidateResult:
    n = 12
    stats = PositionStats(kl=np.full(n, kl), nll=np.ones(n, np.float32), nll_base=np.ones(n, np.float32),
                          same_top=np.ones(n, bool))
    return CandidateResult(model=EvaluatedModel(path=Path(f"/m/{name}.gguf"), file_size=size), summary=summarize(stats))


def test_recommend_smallest_fitting_file_under_threshold():
    q8, q6, q4, q2 = (_result("q8", 800, 0.002), _result("q6", 600, 0.006), _result("q4", 400, 0.04),
                      _result("q2", 250, 0.4))
    rec = recommend([q8, q6, q4, q2], max_kl=0.05)
    assert rec.choice is q4 and "q4.gguf" in rec.reason
    assert recommend([q8, q6, q4, q2], max_kl=0.01).choice is q6
    # the fit verdict excludes files that do not fit; unknown (None/missing) counts as fitting
    fits = {"/m/q4.gguf": False, "/m/q6.gguf": None}
    assert recommend([q8, q6, q4, q2], max_kl=0.05, fits=fits).choice is q6
    assert recommend([q8, q6], fits=lambda r: r is q8).choice is q8
    none = recommend([q2], max_kl=0.05)
    assert none.choice is None and "q2.gguf" in none.reason
    assert recommend([q8], fits={"/m/q8.gguf": False}).choice is None
    assert recommend([]).choice is None


def test_model_files_are_checked_before_llama_cpp_sees_them(tmp_path):
    from app.runtime.errors import EvalModelError
    from app.runtime.evaluate.llama_runner import check_gguf

    with pytest.raises(EvalModelError, match="not found"):
        check_gguf(tmp_path / "missing.gguf")
    with pytest.raises(EvalModelError, match="directory"):
        check_gguf(tmp_path)
    (tmp_path / "notes.gguf").write_text("hello")
    with pytest.raises(EvalModelError, match="not a GGUF file") as exc:
        check_gguf(tmp_path / "notes.gguf")
    assert isinstance(exc.value, OSError) and str(tmp_path / "notes.gguf") in str(exc.value)


def test_is_base_cached(tmp_path):
    from app.runtime.evaluate import is_base_cached

    model = tmp_path / "base.gguf"
    model.write_bytes(b"GGUF" + bytes(10))
    text = EvalText.from_bytes(b"some text")
    kw = dict(text=text, n_ctx=8, cache_root=tmp_path / "c")
    assert not is_base_cached(model, **kw)
    cache = BaseCache(model, text, 8, root=tmp_path / "c")
    cache.save_tokens(np.arange(20, dtype=np.int32), 300)  # two chunks of 8
    cache.save_chunk(0, _record(0))
    assert is_base_cached(model, n_chunks=1, **kw) and not is_base_cached(model, **kw)
    cache.save_chunk(1, _record(1))
    assert is_base_cached(model, **kw)


def test_cli_table_has_one_row_per_model():
    import io

    from app.cli.eval import print_table
    from app.runtime.evaluate import ComparisonReport, ValueWithError

    report = ComparisonReport(base=EvaluatedModel(path=Path("/m/f16.gguf"), file_size=2 << 20, n_params=1000,
                                             tensor_bytes=2000),
                              base_ppl=ValueWithError(11.6, 0.3), n_ctx=128, n_chunks=2, n_positions=126,
                              text_name="python-docs.txt", candidates=[_result("q4", 1 << 20, 0.0421)],
                              base_chunks_computed=0, base_chunks_cached=2)
    out = io.StringIO()
    print_table(report, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["file", "size", "bits/w", "PPL", "mean", "KL", "KL", "p99", "same", "top"]
    assert lines[1].startswith("f16.gguf (base)") and "2.0 MiB" in lines[1] and "16.00" in lines[1]
    assert lines[2].startswith("q4.gguf") and "0.04210" in lines[2] and "100.00" in lines[2]
    assert "2 chunks of 128 tokens" in lines[3] and "2 from cache" in lines[3]
