"""``kompakt chat MODEL.gguf``: chat with a GGUF model in the terminal.

The answer streams as it is generated; Ctrl-C stops the current answer (keeping what was written) without leaving
the chat. Commands: /help, /reset, /regen, /save [FILE], /stats, /quit. When the context is full, the chat says so
and asks whether to drop the oldest turns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from app.cli.fit import gpu_layers_arg

HELP = """commands:
  /reset         start a new conversation (keeps the system prompt)
  /regen         answer the last message again
  /save [FILE]   save the conversation (default: the Kompakt conversations folder)
  /stats         speed of the last answer and context use
  /quit          leave (Ctrl-D works too); Ctrl-C stops the current answer"""


def add_parser(subparsers) -> None:
    """Register ``kompakt chat``."""
    p = subparsers.add_parser("chat", help="chat with a GGUF model in the terminal",
                              description="Chat with a local GGUF model. " + __doc__.split("\n\n")[1])
    p.add_argument("model", type=Path, help="the .gguf model file")
    g = p.add_argument_group("model loading (defaults: your saved settings)")
    g.add_argument("--ctx", type=int, help="context size in tokens (default: your settings', lowered until it fits)")
    g.add_argument("--gpu-layers", type=gpu_layers_arg, metavar="N|auto|all",
                   help="layers to offload to the GPU; auto (-1) = as many as fit")
    g.add_argument("--threads", type=int, help="CPU threads (default: your settings', else the physical cores)")
    g.add_argument("--kv-type", metavar="TYPE[,TYPE]",
                   help="K/V cache type: f16, q8_0, q4_0, ...; 'K,V' sets them apart")
    g.add_argument("--flash-attn", choices=("on", "off", "auto"),
                   help="flash attention (default auto: as llama.cpp decides for this device and model)")
    g.add_argument("--lookup", action="store_true", help="prompt-lookup speculative decoding (same answers)")
    s = p.add_argument_group("answers (defaults: your saved settings)")
    s.add_argument("--system", metavar="TEXT", help="system prompt")
    s.add_argument("--temp", type=float, help="temperature, 0 = greedy")
    s.add_argument("--top-p", type=float, help="nucleus sampling threshold")
    s.add_argument("--top-k", type=int, help="sample among the k likeliest tokens, 0 = off (default 40)")
    s.add_argument("--min-p", type=float, help="minimum probability relative to the top token (default 0.05)")
    s.add_argument("--repeat-penalty", type=float, help="penalty for repeated tokens, 1 = off (default 1.1)")
    s.add_argument("--seed", type=int, help="random seed (default: random)")
    s.add_argument("--max-tokens", type=int, help="longest answer in tokens")
    p.set_defaults(run=run)


def conversations_dir() -> Path:
    """Where ``/save`` puts conversations: ``data_dir()/conversations`` (``KOMPAKT_DATA_DIR`` overrides)."""
    from app.runtime.paths import data_dir

    return data_dir() / "conversations"


def _settings(args: argparse.Namespace, prefs):
    """(load plan, sampling settings, system prompt) from the user's saved settings ``prefs`` and the flags (flags
    win)."""
    from app.runtime.chat import SamplingSettings
    from app.runtime.load_policy import plan_load

    kv_k = kv_v = None
    if args.kv_type:
        kv_k, _, kv_v = args.kv_type.partition(",")
        kv_v = kv_v or kv_k
    plan = plan_load(args.model, prefs, best_effort=True, n_ctx=args.ctx, n_gpu_layers=args.gpu_layers,
                     n_threads=args.threads, type_k=kv_k, type_v=kv_v, flash_attn=args.flash_attn,
                     lookup=args.lookup or None)
    sampling = SamplingSettings.from_prefs(prefs, temperature=args.temp, top_p=args.top_p, top_k=args.top_k,
                                           min_p=args.min_p, repeat_penalty=args.repeat_penalty, seed=args.seed,
                                           max_tokens=args.max_tokens)
    return plan, sampling, prefs.system_prompt if args.system is None else args.system


def run(args: argparse.Namespace) -> int:
    """Load the model on a worker thread and run the chat loop on stdin/stdout."""
    from app.cli._console import ProgressLine, ctrl_c_cancels
    from app.runtime import settings
    from app.runtime.chat import ChatWorker
    from app.runtime.errors import KompaktRuntimeError
    from converter.core.progress import Cancelled

    worker = ChatWorker()
    try:
        try:
            plan, sampling, system = _settings(args, settings.load())
            sampling.validate()
            for note in plan.notes:
                print(f"kompakt: note: {note}", file=sys.stderr)
            line = ProgressLine() if sys.stderr.isatty() else None
            with ctrl_c_cancels() as cancel:
                info = worker.load(args.model, plan.params, sampling=sampling, system_prompt=system,
                                   progress=line, cancel=cancel).result()
            if line is not None:
                line.close()
        except Cancelled:
            print("kompakt: cancelled", file=sys.stderr)
            return 130
        except KompaktRuntimeError as exc:
            print(f"kompakt: error: {exc}", file=sys.stderr)
            return 1
        print(f"{args.model.name}: {info.description}, context {info.n_ctx} tokens. /help for commands, "
              f"Ctrl-D to quit.", file=sys.stderr)
        return _Repl(worker, sys.stdin, sys.stdout).loop()
    finally:
        worker.close()


class _Repl:
    """The read-answer loop."""

    def __init__(self, worker, stdin: TextIO, stdout: TextIO) -> None:
        self.worker = worker
        self.stdin = stdin
        self.out = stdout
        self.tty = stdin.isatty()

    def read(self, prompt: str) -> str | None:
        try:
            return input(prompt if self.tty else "")
        except EOFError:
            return None

    def loop(self) -> int:
        while True:
            try:
                text = self.read("> ")
            except KeyboardInterrupt:
                print("\n(Ctrl-D or /quit to leave)", file=sys.stderr)
                continue
            if text is None:
                if self.tty:
                    print(file=sys.stderr)
                return 0
            text = text.strip()
            if not text:
                continue
            if text.startswith("/"):
                if self.command(text) == "quit":
                    return 0
                continue
            self.answer("send", text)

    def command(self, text: str) -> str | None:
        from app.runtime.conversations import save_conversation, write_conversation
        from app.runtime.errors import KompaktRuntimeError

        name, _, arg = text.partition(" ")
        arg = arg.strip()
        try:
            if name in ("/quit", "/exit", "/q"):
                return "quit"
            if name == "/help":
                print(HELP, file=sys.stderr)
            elif name == "/reset":
                self.worker.call(lambda s: s.reset()).result()
                print("(new conversation)", file=sys.stderr)
            elif name == "/regen":
                self.answer("regenerate")
            elif name == "/save":
                conv = self.worker.call(lambda s: s.conversation).result()
                path = write_conversation(conv, Path(arg).expanduser()) if arg \
                    else save_conversation(conv, conversations_dir())
                print(f"(saved to {path})", file=sys.stderr)
            elif name == "/stats":
                stats, use = self.worker.call(lambda s: (s.last_stats, s.context_use())).result()
                if stats is not None:
                    print(stats.summary(), file=sys.stderr)
                print(f"conversation: {use.prompt_tokens}/{use.n_ctx} tokens ({100 * use.fraction:.0f}%), "
                      f"answers up to {use.max_tokens} tokens", file=sys.stderr)
            else:
                print(f"unknown command {name}; /help lists them", file=sys.stderr)
        except (KompaktRuntimeError, OSError) as exc:
            print(f"kompakt: error: {exc}", file=sys.stderr)
        return None

    def answer(self, request: str, *args) -> None:
        """Stream one answer; on a full context, offer to drop the oldest turns and retry."""
        from app.cli._console import ctrl_c_cancels
        from app.runtime.errors import ContextFullError, KompaktRuntimeError

        while True:
            try:
                with ctrl_c_cancels() as cancel:
                    stream = self.worker.stream(request, *args, cancel=cancel)
                    for piece in stream:
                        self.out.write(piece)
                        self.out.flush()
            except ContextFullError as exc:
                print(f"kompakt: {exc}", file=sys.stderr)
                n = exc.turns_to_drop
                if n is None or not n:
                    return
                reply = self.read(f"drop the oldest {n} turn{'s' if n > 1 else ''} and continue? [y/N] ")
                if not reply or reply.strip().lower() not in ("y", "yes"):
                    return
                self.worker.call(lambda s: s.drop_oldest_turns(n)).result()
                continue
            except KeyboardInterrupt:  # a second Ctrl-C: the answer was already told to stop
                self.out.write("\n")
                return
            except KompaktRuntimeError as exc:
                print(f"kompakt: error: {exc}", file=sys.stderr)
                return
            self.out.write("\n")
            self.out.flush()
            result = stream.result
            if result is not None:
                note = {"cancelled": " (stopped)", "max_tokens": " (max tokens reached)"}.get(result.stop_reason, "")
                print(f"[{result.stats.summary()}]{note}", file=sys.stderr)
            return
