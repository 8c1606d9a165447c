"""Quality evaluation on real SmolLM2 quantizations made by llama.cpp (lean: 128-token chunks, 2 threads)."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from converter.core.progress import CancelToken, Cancelled

pytestmark = pytest.mark.integration

CTX = 128
CHUNKS = 2
THREADS = 2
LADDER = ("Q8_0", "Q6_K", "Q4_K_M", "Q2_K")


@pytest.fixture(scope="module")
def models(smollm2_f32_gguf, tmp_path_factory):
    """F16 + the quant ladder, all made by llama.cpp from the F32 fixture."""
    from tests.fixtures.llama import quantize_with_llama_cpp

    d = tmp_path_factory.mktemp("eval-models")
    out = {}
    for ftype in ("F16", *LADDER):
        out[ftype] = d / f"smol-{ftype}.gguf"
        quantize_with_llama_cpp(smollm2_f32_gguf, out[ftype], ftype, threads=THREADS)
    return out


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A cache shared by this module's tests, so later tests reuse the F16 base pass."""
    return tmp_path_factory.mktemp("eval-cache")


def _numpy_perplexity(model, text, n_ctx: int, n_chunks: int) -> float:
    """Plain NumPy perplexity from llama-cpp-python's raw logits (Llama(logits_all=True))."""
    from llama_cpp import Llama

    # flash attention on, like llama-perplexity's default "auto" resolves on CPU (and so our runner)
    llm = Llama(model_path=str(model), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=THREADS,
                n_threads_batch=THREADS, flash_attn=True, verbose=False)
    try:
        tokens = llm.tokenize(text.data, add_bos=True, special=False)
        add_bos = llm._model.add_bos_token()
        first = n_ctx // 2
        nll = []
        for i in range(n_chunks):
            chunk = tokens[i * n_ctx:(i + 1) * n_ctx]
            if add_bos:
                chunk = [llm.token_bos()] + chunk[1:]
            llm.reset()
            llm.eval(chunk)
            z = np.array(llm.scores[first:n_ctx - 1], dtype=np.float64)
            logp = z - z.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
            targets = tokens[i * n_ctx + first + 1:(i + 1) * n_ctx]
            nll.extend(-logp[np.arange(len(targets)), targets])
    finally:
        llm.close()
    return math.exp(float(np.mean(nll)))


def test_perplexity_matches_numpy_on_raw_logits(models):
    from app.runtime.evaluate import EvalText, measure_perplexity

    text = EvalText.load()
    seen = []
    ours = measure_perplexity(models["F16"], text=text, n_ctx=CTX, n_chunks=CHUNKS, n_threads=THREADS,
                              progress=seen.append)
    ref = _numpy_perplexity(models["F16"], text, CTX, CHUNKS)
    assert ours.n_positions == CHUNKS * (CTX - 1 - CTX // 2)
    assert ours.ppl.value == pytest.approx(ref, rel=0.001)  # same logits: agrees to ~1e-7 in practice
    assert ours.ppl.se > 0 and ours.model.bits_per_weight == pytest.approx(16, abs=0.01)
    assert seen[-1].done == seen[-1].total == CHUNKS * CTX


def test_kl_is_within_one_percent_of_the_full_vocabulary_kl(models):
    """The compact base record (kept tokens + one tail bucket) loses almost nothing against the exact sum."""
    from app.runtime.evaluate.llama_runner import ChunkRunner
    from app.runtime.evaluate.logprobs import base_record, compare_to_base
    from app.runtime.evaluate.text import EvalText, chunk, scored_targets

    text = EvalText.load()
    logits = {}
    for name in ("F16", "Q4_K_M"):
        with ChunkRunner(models[name], n_ctx=CTX, n_threads=THREADS) as runner:
            tokens = runner.tokenize(text.data)
            logits[name] = runner.scored_logits(chunk(tokens, 0, CTX)).astype(np.float64)
    targets = scored_targets(tokens, 0, CTX)
    ours = compare_to_base(logits["Q4_K_M"].astype(np.float32), targets,
                           base_record(logits["F16"].astype(np.float32), targets)).kl
    lp, lq = (z - z.max(1, keepdims=True) for z in (logits["F16"], logits["Q4_K_M"]))
    lp -= np.log(np.exp(lp).sum(1, keepdims=True))
    lq -= np.log(np.exp(lq).sum(1, keepdims=True))
    exact = (np.exp(lp) * (lp - lq)).sum(1)
    assert 0.99 * exact.mean() <= ours.mean() <= exact.mean() * (1 + 1e-5)
    np.testing.assert_allclose(ours, exact, rtol=0.05, atol=2e-4)


def test_quant_ladder_against_f16(models, cache_dir):
    from app.runtime.evaluate import compare_models, recommend

    got = []
    progress = []
    cands = [models["F16"], *(models[t] for t in LADDER)]
    report = compare_models(models["F16"], cands, n_ctx=CTX, n_chunks=CHUNKS, n_threads=THREADS,
                            cache_root=cache_dir / "eval-base", on_result=got.append, progress=progress.append)
    assert [r.model.path for r in got] == cands and report.candidates == got
    assert report.base_chunks_computed == CHUNKS and report.base_chunks_cached == 0
    dones = [p.done for p in progress]
    assert dones == sorted(dones) and dones[-1] == progress[-1].total == (CHUNKS + len(cands) * CHUNKS) * CTX

    self_cmp = report.candidates[0].summary
    assert self_cmp.kl_mean.value < 1e-6 and self_cmp.kl_max < 1e-6
    assert self_cmp.same_top.value == 1.0
    assert self_cmp.ppl.value == pytest.approx(report.base_ppl.value, rel=1e-6)

    kl = {t: r.kl_mean for t, r in zip(LADDER, report.candidates[1:])}
    assert kl["Q8_0"] < kl["Q6_K"] < kl["Q4_K_M"] < kl["Q2_K"], kl
    for r in report.candidates[1:]:
        s = r.summary
        assert s.kl_median <= s.kl_p99 <= s.kl_max and 0 < s.same_top.value < 1
        assert s.ppl_ratio.value == pytest.approx(s.ppl.value / s.ppl_base.value, rel=1e-9)
    assert report.candidates[-1].same_top < report.candidates[1].same_top
    rec = recommend(report.candidates[1:], max_kl=(kl["Q6_K"] + kl["Q4_K_M"]) / 2)
    assert rec.choice is report.candidates[2]  # Q6_K: the smallest under the threshold


def test_cancel_keeps_finished_base_chunks(models, tmp_path):
    from app.runtime.evaluate import compare_models
    from app.runtime.evaluate.base_cache import BaseCache
    from app.runtime.evaluate.text import EvalText

    token = CancelToken()

    def progress(p):
        if p.done >= CTX:  # the first base chunk is done
            token.cancel()

    with pytest.raises(Cancelled):
        compare_models(models["F16"], [models["Q8_0"]], n_ctx=CTX, n_chunks=CHUNKS, n_threads=THREADS,
                       cache_root=tmp_path, progress=progress, cancel=token)
    cache = BaseCache(models["F16"], EvalText.load(), CTX, root=tmp_path)
    assert cache.has_chunk(0) and not cache.has_chunk(1)
    assert not [p for p in cache.dir.iterdir() if p.name.endswith(".tmp")]


def test_cancel_aborts_a_running_decode(models):
    from app.runtime.evaluate.llama_runner import ChunkRunner

    class CancelDuringDecode(CancelToken):
        """Passes the check before the decode, then asks llama.cpp's abort callback to stop."""

        def raise_if_cancelled(self):
            pass

        @property
        def cancelled(self):
            return True

    with ChunkRunner(models["Q2_K"], n_ctx=CTX, n_threads=THREADS, cancel=CancelDuringDecode()) as runner:
        with pytest.raises(Cancelled):
            runner.scored_logits(np.zeros(CTX, dtype=np.int32))


def test_cli_json_for_a_second_candidate_reuses_the_cached_base(models, cache_dir, monkeypatch, capsys):
    import app.runtime.evaluate.compare as compare
    from app.cli import eval as eval_cli

    compare.compare_models(models["F16"], [], n_ctx=CTX, n_chunks=CHUNKS, n_threads=THREADS,
                           cache_root=cache_dir / "eval-base")  # no-op after the ladder test; fills the cache alone
    calls = []
    real = compare.base_record
    monkeypatch.setattr(compare, "base_record", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setenv("KOMPAKT_CACHE_DIR", str(cache_dir))
    parser = argparse.ArgumentParser()
    eval_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", str(models["F16"]), str(models["Q8_0"]), "--ctx", str(CTX), "--chunks",
                              str(CHUNKS), "--threads", str(THREADS), "--json", "--max-kl", "0.05"])
    assert args.run(args) == 0
    assert calls == []
    data = json.loads(capsys.readouterr().out)
    assert data["base_chunks_computed"] == 0 and data["base_chunks_cached"] == CHUNKS
    [cand] = data["candidates"]
    assert cand["model"]["path"] == str(models["Q8_0"]) and 0 < cand["kl_mean"]["value"] < 0.05
    assert 0 < cand["same_top"]["value"] < 1 and cand["kl_p99"] >= cand["kl_median"]
    assert data["recommendation"]["path"] == str(models["Q8_0"])
    assert data["n_positions"] == CHUNKS * (CTX - 1 - CTX // 2)


def test_cli_reports_bad_input_in_one_line(models, tmp_path, capsys):
    from app.cli import eval as eval_cli

    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("not a model")
    parser = argparse.ArgumentParser()
    eval_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", str(models["F16"]), str(bogus)])
    assert args.run(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kompakt: error: {bogus}: not a GGUF file")
