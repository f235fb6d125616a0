"""`alslm ask "question"`: answer once, for scripts.

Prints the answer, then numbered sources when the system retrieved any; `--json` prints
Answer.to_dict() as one JSON line instead. Decoding is greedy unless --temperature is given, so the
same question gives the same answer. The disclaimer goes to stderr, keeping stdout parseable.
Exit codes: 0 answered, 1 the system could not be loaded or failed, 2 bad usage (empty question, or
longer than systems.MAX_QUESTION_CHARS).
"""

from __future__ import annotations

import argparse
import json
import sys

from alslm_ml.disclaimer import SHORT
from alslm_ml.serve.chat import add_system_arguments, build_system
from alslm_ml.systems import GenerationConfig, QuestionTooLong, check_question


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="alslm ask", description=f"Answer one question. {SHORT}")
    p.add_argument("question", nargs="*", help="the question (quote it)")
    add_system_arguments(p)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=None, help="sample instead of greedy decoding")
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as one JSON line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    question = " ".join(args.question).strip()
    if not question:
        print("alslm ask: the question is empty; usage: alslm ask \"What is ALS?\"", file=sys.stderr)
        return 2
    try:
        check_question(question)
    except QuestionTooLong as e:
        print(f"alslm ask: {e}", file=sys.stderr)
        return 2
    cfg = GenerationConfig.greedy(max_tokens=args.max_tokens)
    if args.temperature is not None and args.temperature > 0:
        cfg = GenerationConfig(temperature=args.temperature, max_tokens=args.max_tokens)
    try:
        system, _ = build_system(args)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as e:
        print(f"alslm ask: cannot load system {args.system!r}: {e}", file=sys.stderr)
        return 1
    try:
        ans = system.answer(question, cfg)
    except (RuntimeError, ValueError, OSError) as e:
        print(f"alslm ask: {args.system} failed: {e}", file=sys.stderr)
        return 1
    finally:
        system.close()
    print(SHORT, file=sys.stderr)
    if args.json:
        print(json.dumps(ans.to_dict(), ensure_ascii=False))
        return 0
    print(ans.text)
    if ans.sources:
        print("\nSources:")
        for s in ans.sources:
            extra = ", ".join(x for x in (s.source, s.license) if x)
            print(f"  [{s.index}] {s.title} — {s.url}" + (f" ({extra})" if extra else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
