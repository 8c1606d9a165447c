"""Evaluation throughput: our chunk pipeline vs llama-cpp-python's raw ``Llama.eval`` on the same chunks.

    python bench/eval_speed.py [--model FILE.gguf] [--ctx 512] [--chunks 3] [--threads 2] [--repeat 2]

Both sides run the same model, the same chunks of the bundled evaluation text and the same thread count, in one
process, interleaved chunk by chunk (the machine may be shared, so a load change hits both alike); the best of
``--repeat`` passes per chunk counts. Ours is measured twice: the perplexity pass (decode + log-softmax + nll) and
a candidate pass of the KL comparison (decode + KL against a stored base record). llama-cpp-python is measured
with ``logits_all=True`` (what computing a perplexity with it needs) and ``logits_all=False`` (last-token logits
only: the bare forward pass, a lower bound on any evaluation). Prints tokens/s and ours / theirs (>= 0.90 is the
target against ``logits_all=True``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: the SmolLM2 Q4_1 test fixture)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)

    from llama_cpp import Llama

    from app.runtime.evaluate.llama_runner import ChunkRunner
    from app.runtime.evaluate.logprobs import base_record, compare_to_base, log_softmax, next_token_nll
    from app.runtime.evaluate.text import EvalText, chunk, scored_targets

    if args.model:
        model = Path(args.model)
    else:
        from tests.fixtures.smollm2 import source_gguf

        model = source_gguf()
    text = EvalText.load()
    n_ctx = args.ctx
    ours = ChunkRunner(model, n_ctx=n_ctx, n_threads=args.threads)
    tokens = ours.tokenize(text.data)
    n = min(args.chunks, len(tokens) // n_ctx)
    chunks = [chunk(tokens, i, n_ctx) for i in range(n)]
    targets = [scored_targets(tokens, i, n_ctx) for i in range(n)]
    records = [base_record(ours.scored_logits(c), t) for c, t in zip(chunks, targets)]  # also warms up

    # flash attention on both sides: llama.cpp's default "auto" (our runner) turns it on for CPU
    theirs = {flag: Llama(model_path=str(model), n_ctx=n_ctx, n_batch=n_ctx, logits_all=flag,
                          n_threads=args.threads, n_threads_batch=args.threads, flash_attn=True, verbose=False)
              for flag in (True, False)}

    def ours_ppl(i):
        next_token_nll(log_softmax(ours.scored_logits(chunks[i])), targets[i])

    def ours_kl(i):
        compare_to_base(ours.scored_logits(chunks[i]), targets[i], records[i])

    def raw(flag):
        def run(i):
            llm = theirs[flag]
            llm.reset()
            llm.eval(chunks[i].tolist())
            if flag:  # hand the logits back as NumPy, as one would to score them
                np.asarray(llm.scores[n_ctx // 2:n_ctx - 1])
        return run

    cases = {"ours: perplexity pass": ours_ppl, "ours: KL candidate pass": ours_kl,
             "llama-cpp-python eval, logits_all=True": raw(True),
             "llama-cpp-python eval, logits_all=False": raw(False)}
    for fn in cases.values():  # warm-up
        fn(0)
    best = {name: [(float("inf"), float("inf"))] * n for name in cases}
    for _ in range(args.repeat):
        for i in range(n):
            for name, fn in cases.items():
                w, c = _timed(lambda: fn(i))
                best[name][i] = (min(best[name][i][0], w), min(best[name][i][1], c))
    for llm in theirs.values():
        llm.close()
    ours.close()

    n_tok = n * n_ctx
    speed = {name: (n_tok / sum(w for w, _ in v), n_tok / sum(c for _, c in v)) for name, v in best.items()}
    print(f"model {model.name}, ctx {n_ctx}, {n} chunks ({n_tok} tokens), {args.threads} threads, "
          f"best of {args.repeat}")
    print(f"{'':42s} {'tok/s (wall)':>13s} {'tok/s (CPU)':>12s}")
    for name, (w, c) in speed.items():
        print(f"{name:42s} {w:13.1f} {c:12.1f}")
    for ours_name in ("ours: perplexity pass", "ours: KL candidate pass"):
        for ref in ("llama-cpp-python eval, logits_all=True", "llama-cpp-python eval, logits_all=False"):
            print(f"ratio {ours_name} / {ref.split(', ')[1]}: wall {speed[ours_name][0] / speed[ref][0]:.2f}, "
                  f"CPU {speed[ours_name][1] / speed[ref][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
