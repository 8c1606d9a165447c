"""Prompt and generation speed of our ChatSession vs a bare loop over llama-cpp-python's low-level API.

Same model (the SmolLM2 fixture unless --model is given), same thread count, same prompt tokens, same number of
generated tokens, greedy sampling. Rounds alternate between the two so machine load hits both alike; the best round
of each is reported with the ratio ours / bare (target: >= 0.97), and the median of the per-round ratios.

    python bench/chat_speed.py [--model M.gguf] [--threads 1] [--tokens 64] [--rounds 7]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = ("Write a long story about a lighthouse keeper who finds a message in a bottle. "
          "Describe the sea, the weather, the keeper's routine and the message in detail. ") * 4


class BareLoop:
    """The minimal baseline: llama_decode on a llama_batch and a greedy sampler, nothing else."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int, n_batch: int) -> None:
        import llama_cpp as ll

        self.ll = ll
        mp = ll.llama_model_default_params()
        mp.n_gpu_layers = 0
        self.model = ll.llama_model_load_from_file(str(path).encode(), mp)
        cp = ll.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, n_batch, n_batch
        cp.n_threads = cp.n_threads_batch = n_threads
        cp.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model, cp)
        self.n_batch = n_batch
        self.batch = ll.llama_batch_init(n_batch, 0, 1)
        self.mem = ll.llama_get_memory(self.ctx)

    def _decode(self, tokens: list[int], start: int) -> None:
        b = self.batch
        for i, t in enumerate(tokens):
            b.token[i], b.pos[i], b.n_seq_id[i], b.seq_id[i][0], b.logits[i] = t, start + i, 1, 0, False
        b.logits[len(tokens) - 1] = True
        b.n_tokens = len(tokens)
        assert self.ll.llama_decode(self.ctx, b) == 0

    def run(self, prompt: list[int], n_gen: int) -> tuple[float, float]:
        """Return (prompt seconds, generation seconds) for ``prompt`` then ``n_gen`` greedy tokens."""
        ll = self.ll
        ll.llama_memory_clear(self.mem, True)
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        t0 = time.perf_counter()
        for i in range(0, len(prompt), self.n_batch):
            self._decode(prompt[i:i + self.n_batch], i)
        t1 = time.perf_counter()
        pos = len(prompt)
        for k in range(n_gen):
            tok = ll.llama_sampler_sample(chain, self.ctx, -1)
            if k == n_gen - 1:
                break
            self._decode([tok], pos)
            pos += 1
        t2 = time.perf_counter()
        ll.llama_sampler_free(chain)
        return t1 - t0, t2 - t1

    def close(self) -> None:
        ll = self.ll
        ll.llama_batch_free(self.batch)
        ll.llama_free(self.ctx)
        ll.llama_model_free(self.model)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ctx", type=int, default=1024)
    args = ap.parse_args()
    if args.model is None:
        from tests.fixtures.smollm2 import source_gguf

        args.model = source_gguf()

    from app.runtime.chat import ChatSession, LoadSettings, SamplingSettings

    sampling = SamplingSettings(temperature=0.0, repeat_penalty=1.0, max_tokens=args.tokens)
    session = ChatSession(args.model, LoadSettings(n_ctx=args.ctx, n_threads=args.threads, n_batch=512),
                          sampling=sampling)
    bare = BareLoop(args.model, args.ctx, args.threads, 512)
    prompt = session.prompt_tokens([{"role": "user", "content": PROMPT}])

    ours_p: list[float] = []
    ours_g: list[float] = []
    bare_p: list[float] = []
    bare_g: list[float] = []
    n_gen = None
    def ours() -> None:
        nonlocal n_gen
        session.reset()
        session.backend.clear()  # evaluate the whole prompt every round, like the bare loop
        st = session.send(PROMPT).stats
        assert st.prompt_evaluated == len(prompt), (st.prompt_evaluated, len(prompt))
        n_gen = st.generated_tokens if n_gen is None else n_gen
        assert st.generated_tokens == n_gen, "greedy answers differ between rounds"
        ours_p.append(st.prompt_seconds)
        ours_g.append(st.generation_seconds)

    def baseline() -> None:
        tp, tg = bare.run(prompt, n_gen)
        bare_p.append(tp)
        bare_g.append(tg)

    ours()  # warm-up: pages the weights in and fixes the answer length
    ours_p.clear()
    ours_g.clear()
    for i in range(args.rounds):  # alternate who goes first so neither always runs on a warmer machine
        for step in ((ours, baseline) if i % 2 == 0 else (baseline, ours)):
            step()
    session.close()
    bare.close()

    def rate(n: int, secs: list[float]) -> float:
        return n / min(secs)

    def paired(ours: list[float], bare: list[float]) -> float:
        """Median over rounds of (our speed / bare speed): robust to load that drifts between rounds."""
        ratios = sorted(b / o for o, b in zip(ours, bare))
        return ratios[len(ratios) // 2]

    op, bp = rate(len(prompt), ours_p), rate(len(prompt), bare_p)
    og, bg = rate(n_gen, ours_g), rate(n_gen, bare_g)
    print(f"model {args.model.name}, threads {args.threads}, prompt {len(prompt)} tokens, "
          f"{n_gen} generated, {args.rounds} alternating rounds")
    print(f"prompt     tok/s (best): ours {op:8.1f}   bare llama.cpp {bp:8.1f}   ratio {op / bp:.3f}   "
          f"median paired ratio {paired(ours_p, bare_p):.3f}")
    print(f"generation tok/s (best): ours {og:8.1f}   bare llama.cpp {bg:8.1f}   ratio {og / bg:.3f}   "
          f"median paired ratio {paired(ours_g, bare_g):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
