"""`alslm` command line: one subcommand per tool, each implemented in its stage's module.

Each entry maps a subcommand to "module:function"; the function takes the remaining argv and
returns an exit code. Modules are imported only when their subcommand runs, so `alslm --help`
stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

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
    lines = ["usage: alslm <command> [options]", "", "ALS-LM research platform (not a medical tool).", "", "commands:"]
    lines += [f"  {name:<8} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Run `alslm <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
    return int(getattr(importlib.import_module(module_name), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
