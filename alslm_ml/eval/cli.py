"""`alslm eval`: score one system on a benchmark file outside Dagster.

    alslm eval --system rag --benchmark alslm_ml/eval/benchmark/questions.json --out data/eval/rag --limit 20

Prints one JSON line: n, mean_accuracy, pass_rate, fabrication_rate, contradiction_rate,
trap_refusal_rate, degenerate_rate (full summary in OUT/summary.json).
"""

from __future__ import annotations

import argparse
import json
import sys

from alslm_ml.benchmark import BenchmarkError, load_benchmark, stratified_sample
from alslm_ml.config_values import parse_assignment
from alslm_ml.disclaimer import SHORT
from alslm_ml.errors import UserError, describe_os_error
from alslm_ml.eval.registry_io import load_registry
from alslm_ml.eval.runner import evaluate
from alslm_ml.eval.scoring import THRESHOLD
from alslm_ml.scratch import QUANTS
from alslm_ml.systems import SYSTEM_NAMES, GenerationConfig, load_system

HEADLINE = ("n", "mean_accuracy", "pass_rate", "fabrication_rate", "contradiction_rate", "trap_refusal_rate",
            "degenerate_rate")


def system_label(system: str, backend: str | None, quant: str | None) -> str:
    """The run's name in reports, matching the eval_* assets: scratch-torch, scratch-q8_0, rag ..."""
    if system != "scratch":
        return system
    if backend == "torch":
        return "scratch-torch"
    return f"scratch-{quant}" if quant else "scratch"


def validate_settings(where: str, per_category: int = 0, max_tokens: int = 1, threshold: float = THRESHOLD,
                      limit: int | None = None, quants: list[str] | None = None) -> None:
    """Evaluation settings, checked before any system is loaded (the CLI and the eval_* assets)."""
    checks = [("per_category", per_category, per_category >= 0, "an integer >= 0 (0 = every question)"),
              ("max_tokens", max_tokens, 1 <= max_tokens <= 4096, "an integer in [1, 4096]"),
              ("threshold", threshold, 0 <= threshold <= 100, "a number in [0, 100]"),
              ("limit", limit, limit is None or limit >= 1, "an integer >= 1")]
    if quants is not None:
        checks.append(("quants", quants, all(q in QUANTS for q in quants), f"a list of {', '.join(QUANTS)}"))
    for name, value, ok, accepted in checks:
        if not ok:
            raise UserError(f"{where}: {name} is {value!r}; expected {accepted}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alslm eval", description=f"Score a system on an ALS hallucination benchmark. {SHORT}")
    p.add_argument("--system", required=True, choices=SYSTEM_NAMES)
    p.add_argument("--benchmark", default=None, help="benchmark JSON (default: the shipped questions.json)")
    p.add_argument("--out", required=True, help="output directory (responses.jsonl, results.json, summary.json)")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument("--per-category", type=int, default=0, help="stratified sample of N per category (0 = all)")
    p.add_argument("--backend", default=None, help="scratch: llamacpp or torch")
    p.add_argument("--quant", default=None, help="scratch llamacpp: f16, q8_0, q5_k_m, q4_k_m")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="key-fact fuzzy match threshold (0-100)")
    p.add_argument("--registry", default=None, help="entity registry JSON (default: data/eval/entity_registry.json)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a system option, repeatable (rag: k=8, answer_mode=extractive, expand=false ...)")
    p.add_argument("--no-resume", action="store_true", help="ignore answers cached in OUT/responses.jsonl")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        validate_settings("alslm eval", args.per_category, args.max_tokens, args.threshold, args.limit)
        questions = load_benchmark(args.benchmark)
        registry, origin = load_registry(args.registry)
    except (BenchmarkError, ValueError, OSError) as exc:
        print(f"alslm eval: {describe_os_error(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    questions = stratified_sample(questions, args.per_category)
    if args.limit is not None:
        questions = questions[: args.limit]
    options = {k: v for k, v in {"backend": args.backend, "quant": args.quant}.items() if v}
    try:
        options.update(parse_assignment(item, "--option", "k=8") for item in args.option)
    except UserError as exc:
        print(f"alslm eval: {exc}", file=sys.stderr)
        return 2
    label = system_label(args.system, args.backend, args.quant)
    print(f"{SHORT}\nregistry: {origin}; {len(questions)} questions; system {label}", file=sys.stderr)
    try:
        system = load_system(args.system, **options)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError, OSError) as exc:
        print(f"alslm eval: cannot load system {args.system!r}: {exc}", file=sys.stderr)
        return 2
    try:
        summary = evaluate(system, questions, args.out, registry, GenerationConfig.greedy(args.max_tokens),
                           label=label, threshold=args.threshold, resume=not args.no_resume)
    finally:
        system.close()
    print(json.dumps({k: summary.get(k) for k in HEADLINE}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
