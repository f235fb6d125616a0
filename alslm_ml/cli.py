"""`alslm` command line: one subcommand per tool, each implemented in its stage's module.

Each entry maps a subcommand to "module:function"; the function takes the remaining argv and
returns an exit code. Modules are imported only when their subcommand runs, so `alslm --help`
stays fast.

A user mistake (a `ValueError` such as `alslm_ml.errors.UserError`, or a missing / unreadable
file) prints one line and exits with code 2; `alslm --debug <command>` or ALSLM_DEBUG=1 shows the
traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from alslm_ml.errors import describe_os_error

USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)

COMMANDS = {
    "chat": ("alslm_ml.serve.chat:main", "interactive terminal chat with a model (disclaimer, /config, /benchmark)"),
    "ask": ("alslm_ml.serve.ask:main", "answer one question, for scripts (--system, --backend, --json)"),
    "eval": ("alslm_ml.eval.cli:main", "score a system on a hallucination benchmark file"),
    "review": ("alslm_ml.eval.review:main", "manual review of evaluation responses (failure taxonomy, kappa)"),
    "app": ("alslm_ml.serve.app:main", "web chat app (Gradio, 127.0.0.1)"),
    "train": ("alslm_ml.train:main", "train the GPT model (same as python -m alslm_ml.train)"),
    "scrape": ("alslm_ml.sources.cli:main", "run one source's scraper outside Dagster"),
}


def _usage() -> str:
    lines = ["usage: alslm [--debug] <command> [options]", "", "ALS-LM research platform (not a medical tool).", "", "commands:"]
    lines += [f"  {name:<8} {desc}" for name, (_, desc) in COMMANDS.items()]
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
    module_name, func = COMMANDS[name][0].split(":")
    return run_command(f"alslm {name}", lambda a: getattr(importlib.import_module(module_name), func)(a), rest)


if __name__ == "__main__":
    sys.exit(main())
