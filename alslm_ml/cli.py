"""`alslm` command line: one subcommand per tool, each implemented in its stage's module.

Each subcommand runs its stage's `main(argv)`, imported by `command_main` only when the
subcommand runs (so `alslm --help` stays fast). This is also where
stages are wired together: the chat's /benchmark gets the evaluation from here, so serve and
eval never import each other.

A user mistake (a `ValueError` such as `alslm_ml.errors.UserError`, or a missing / unreadable
file) prints one line and exits with code 2; `alslm --debug <command>` or ALSLM_DEBUG=1 shows the
traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

from alslm_ml.errors import describe_os_error

USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)

Main = Callable[[list[str]], int | None]

COMMANDS = {
    "chat": "interactive terminal chat with a model (disclaimer, /config, /benchmark)",
    "ask": "answer one question, for scripts (--system, --backend, --json)",
    "eval": "score a system on a hallucination benchmark file",
    "review": "manual review of evaluation responses (failure taxonomy, kappa)",
    "app": "web chat app (Gradio, 127.0.0.1)",
    "train": "train the GPT model (same as python -m alslm_ml.train)",
    "scrape": "run one source's scraper outside Dagster",
}


def command_main(name: str) -> Main:
    """The `main(argv)` of a subcommand, imported only now (so `alslm --help` stays fast)."""
    if name == "chat":
        from alslm_ml.serve.chat import main as chat

        return functools.partial(chat, run_benchmark=benchmark_in_chat)
    if name == "ask":
        from alslm_ml.serve.ask import main
    elif name == "eval":
        from alslm_ml.eval.cli import main
    elif name == "review":
        from alslm_ml.eval.review import main
    elif name == "app":
        from alslm_ml.serve.app import main
    elif name == "train":
        from alslm_ml.train import main
    elif name == "scrape":
        from alslm_ml.sources.cli import main
    else:
        raise ValueError(f"unknown command {name!r}")
    return main


def benchmark_in_chat(system, system_name: str, backend: str, first_n: int | None, cfg,
                      say: Callable[[str], None]) -> None:
    """The chat's /benchmark: score `system` on the hallucination benchmark (or its first N
    questions) into data/eval/chat/<label>-<time>/ and say the headline figures."""
    from datetime import UTC, datetime

    from alslm_ml import paths
    from alslm_ml.benchmark import load_benchmark
    from alslm_ml.eval.registry_io import load_registry
    from alslm_ml.eval.runner import evaluate

    try:
        questions = load_benchmark()
        registry, origin = load_registry()
    except (ValueError, FileNotFoundError) as e:
        say(f"/benchmark: {e}")
        return
    if first_n:
        questions = questions[:first_n]
    label = f"{system_name}-{backend}"
    out = paths.chat_runs_dir(f"{label}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    say(f"evaluating {system_name} ({backend}) on {len(questions)} questions, greedy; registry {origin}; "
        f"results in {out}")
    try:
        summary = evaluate(system, questions, out, registry, cfg, label=label)
    except KeyboardInterrupt:
        say("\n[benchmark stopped; answers so far are cached in responses.jsonl]")
        return
    for k in ("n", "mean_accuracy", "pass_rate", "fabrication_rate", "trap_refusal_rate", "degenerate_rate"):
        say(f"  {k:<18} {summary.get(k)}")


def _usage() -> str:
    lines = ["usage: alslm [--debug] <command> [options]", "", "ALS-LM research platform (not a medical tool).", "", "commands:"]
    lines += [f"  {name:<8} {desc}" for name, desc in COMMANDS.items()]
    lines += ["", "Run `alslm <command> --help` for a command's options; --debug (or ALSLM_DEBUG=1) shows tracebacks."]
    return "\n".join(lines)


def debug_enabled() -> bool:
    return os.environ.get("ALSLM_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def run_command(prog: str, func: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run a subcommand's main; a user mistake becomes one line on stderr and exit code 2."""
    try:
        return int(func(argv) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, *USER_OS_ERRORS) as exc:
        if debug_enabled():
            raise
        msg = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        msg = " ".join(msg.split()) or type(exc).__name__
        print(f"{prog}: error: {msg} (alslm --debug or ALSLM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--debug"]:
        argv = argv[1:]
        os.environ["ALSLM_DEBUG"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"alslm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run_command(f"alslm {name}", command_main(name), rest)


if __name__ == "__main__":
    sys.exit(main())
