"""`alslm chat`: the interactive terminal demo (design doc section 7).

    alslm chat [--system scratch|rag|baseline|base|finetuned] [--backend auto|ollama|llamacpp|torch]
               [--quant q8_0] [--gguf FILE]

Answers stream as they are generated. Ctrl-C stops the current answer (the chat goes on), Ctrl-D
or /quit leaves. Every exchange is appended to logs/<session start>.jsonl (alslm_ml.paths.logs_dir)
as {"timestamp", "query", "response", "config", "backend", ...}.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from alslm_ml import paths
from alslm_ml.disclaimer import SHORT
from alslm_ml.systems import MAX_QUESTION_CHARS, SYSTEM_NAMES, GenerationConfig, System, load_system

PROMPT = "als-lm> "
MAX_INPUT_CHARS = MAX_QUESTION_CHARS  # anything longer is cut (with a note) before any system sees it
W = 62


def _line(text: str = "") -> str:
    return f"║  {text:<{W - 2}}║"


def banner() -> str:
    words, rows, row = SHORT.replace("\u2014", "-").split(), [], "⚠ DISCLAIMER:"
    for w in words:
        if len(row) + 1 + len(w) > W - 4:
            rows.append(row)
            row = w
        else:
            row += " " + w
    rows.append(row)
    out = ["╔" + "═" * W + "╗", _line("ALS-LM – Domain-Specific Language Model for ALS Knowledge"), _line()]
    out += [_line(r) for r in rows]
    out += ["╠" + "═" * W + "╣", _line("Commands:")]
    out += [_line(f"  {c:<12} {d}") for c, d in COMMANDS.items()]
    out += ["╚" + "═" * W + "╝"]
    return "\n".join(out)


COMMANDS = {
    "/help": "Show available commands",
    "/config": "View/modify generation parameters",
    "/benchmark": "Run hallucination evaluation (if available)",
    "/quit": "Exit",
}
SETTABLE = {"temperature": float, "top_k": int, "top_p": float, "max_tokens": int,
            "repeat_penalty": float, "seed": int}


class Chat:
    def __init__(self, system: System, system_name: str, backend: str, cfg: GenerationConfig,
                 out=sys.stdout, log_path: Path | None = None):
        self.system, self.system_name, self.backend, self.cfg, self.out = system, system_name, backend, cfg, out
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.log_path = log_path or paths.logs_dir() / f"{stamp}.jsonl"

    def say(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    # ---- commands -------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a /command; returns False when the chat should end."""
        name, *args = line.split()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            for c, d in COMMANDS.items():
                self.say(f"  {c:<12} {d}")
            self.say("  /config KEY VALUE sets one of: " + ", ".join(SETTABLE))
        elif name == "/config":
            self.config(args)
        elif name == "/benchmark":
            self.benchmark(args)
        else:
            self.say(f"unknown command {name}; type /help")
        return True

    def config(self, args: list[str]) -> None:
        if not args:
            for f in fields(self.cfg):
                self.say(f"  {f.name:<15} {getattr(self.cfg, f.name)}")
            self.say(f"  {'backend':<15} {self.backend}")
            return
        if len(args) != 2 or args[0] not in SETTABLE:
            self.say(f"usage: /config KEY VALUE with KEY one of {', '.join(SETTABLE)}")
            return
        key, raw = args
        try:
            value = SETTABLE[key](raw)
        except ValueError:
            self.say(f"/config {key}: {raw!r} is not a valid {SETTABLE[key].__name__}")
            return
        bad = {"temperature": value < 0, "top_p": not 0 < value <= 1, "top_k": value < 0,
               "max_tokens": value < 1, "repeat_penalty": value <= 0}.get(key, False)
        if bad:
            self.say(f"/config {key}: {raw} is out of range")
            return
        self.cfg = self.cfg.with_(**{key: value})
        self.say(f"{key} = {value}")

    def benchmark(self, args: list[str]) -> None:
        """/benchmark [N]: score the current system (greedy) on the hallucination benchmark, or on
        its first N questions, through alslm_ml.eval when that stage is present."""
        try:  # imported lazily: the evaluation stage is optional for the chat
            from alslm_ml.eval.benchmark import load_benchmark
            from alslm_ml.eval.registry_io import load_registry
            from alslm_ml.eval.runner import evaluate
        except ImportError as e:
            self.say(f"/benchmark: the evaluation module (alslm_ml.eval) is not available ({e})")
            return
        if args and not args[0].isdigit():
            self.say("usage: /benchmark [N]  (N = only the first N questions)")
            return
        try:
            questions = load_benchmark()
            registry, origin = load_registry()
        except (ValueError, FileNotFoundError) as e:
            self.say(f"/benchmark: {e}")
            return
        if args:
            questions = questions[: int(args[0])]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = paths.chat_runs_dir(f"{self.system_name}-{self.backend}-{stamp}")
        self.say(f"evaluating {self.system_name} ({self.backend}) on {len(questions)} questions, greedy; "
                 f"registry {origin}; results in {out}")
        try:
            summary = evaluate(self.system, questions, out, registry, GenerationConfig.greedy(self.cfg.max_tokens),
                               label=f"{self.system_name}-{self.backend}")
        except KeyboardInterrupt:
            self.say("\n[benchmark stopped; answers so far are cached in responses.jsonl]")
            return
        for k in ("n", "mean_accuracy", "pass_rate", "fabrication_rate", "trap_refusal_rate", "degenerate_rate"):
            self.say(f"  {k:<18} {summary.get(k)}")

    # ---- one exchange ---------------------------------------------------------------------
    def ask(self, query: str) -> None:
        if len(query) > MAX_INPUT_CHARS:
            self.say(f"[warning: input of {len(query):,} characters cut to {MAX_INPUT_CHARS:,}]")
            query = query[:MAX_INPUT_CHARS]
        pieces: list[str] = []

        def on_token(piece: str) -> None:
            pieces.append(piece)
            self.say(piece, end="")

        record = {"timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "query": query}
        t0 = time.perf_counter()
        self.say()
        try:
            ans = self.system.answer(query, self.cfg, on_token=on_token)
        except KeyboardInterrupt:
            self.say("\n[stopped]\n")
            record.update(response="".join(pieces), interrupted=True, seconds=round(time.perf_counter() - t0, 3))
        else:
            if not pieces and ans.text:  # a system that does not stream
                self.say(ans.text, end="")
            if not ans.text:
                self.say("[no answer generated]", end="")
            self.say("\n")
            for s in ans.sources:
                self.say(f"  [{s.index}] {s.title} — {s.url}")
            if ans.sources:
                self.say()
            if ans.meta.get("truncated_question"):
                self.say("[warning: the question was longer than the model's context and was truncated]\n")
            record.update(response=ans.text, interrupted=False, seconds=round(ans.seconds, 3),
                          prompt_tokens=ans.prompt_tokens, completion_tokens=ans.completion_tokens,
                          first_token_seconds=ans.first_token_seconds)
        record.update(config=self.cfg.to_dict(), backend=self.backend, system=self.system_name)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def run(self, read=input) -> int:
        self.say(banner())
        self.say(f"system: {self.system_name}, backend: {self.backend}; log: {self.log_path}\n")
        while True:
            try:
                line = read(PROMPT)
            except EOFError:
                self.say("\nGoodbye.")
                return 0
            except KeyboardInterrupt:
                self.say("\n(Ctrl-D or /quit to exit)")
                continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    self.say("Goodbye.")
                    return 0
                continue
            self.ask(line)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="alslm chat", description=f"Interactive chat with an ALS-LM system. {SHORT}")
    add_system_arguments(p)
    p.add_argument("--max-tokens", type=int, default=256)
    return p.parse_args(argv)


def add_system_arguments(p: argparse.ArgumentParser) -> None:
    """The options that pick and locate a system, shared by `alslm chat` and `alslm ask`
    (read back by build_system)."""
    p.add_argument("--system", default="scratch", choices=SYSTEM_NAMES)
    p.add_argument("--backend", default=None, help="scratch: auto (default), ollama, llamacpp or torch")
    p.add_argument("--quant", default=None, help="scratch GGUF type: f16, q8_0 (default), q5_k_m, q4_k_m")
    p.add_argument("--gguf", default=None, help="scratch: a GGUF file instead of data/export/gguf/")
    p.add_argument("--model-dir", default=None, help="scratch torch backend: a model dir instead of the best checkpoint")
    p.add_argument("--tokenizer", default=None, help="scratch: tokenizer.json instead of data/tokenizer/")


def build_system(args: argparse.Namespace) -> tuple[System, str]:
    options = {k: v for k, v in {"backend": args.backend, "quant": args.quant, "gguf_path": args.gguf,
                                 "model_dir": args.model_dir, "tokenizer_path": args.tokenizer}.items() if v}
    if args.system != "scratch":
        options = {k: v for k, v in options.items() if k == "backend"}
    system = load_system(args.system, **options)
    backend = system.describe().get("backend", args.backend or "default")
    return system, backend


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Ctrl-C is part of this program's interface (stop an answer, hint at the prompt). A parent that
    # started us with SIGINT ignored (a background job of a non-interactive shell, some CI runners)
    # would otherwise leave Python with no KeyboardInterrupt at all.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stream in (sys.stdin, sys.stdout):  # undecodable bytes become U+FFFD instead of a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:
        pass
    try:
        system, backend = build_system(args)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as e:
        print(f"alslm chat: cannot load system {args.system!r}: {e}", file=sys.stderr)
        return 1
    cfg = GenerationConfig(max_tokens=args.max_tokens)
    try:
        return Chat(system, args.system, backend, cfg).run()
    finally:
        system.close()


if __name__ == "__main__":
    sys.exit(main())
