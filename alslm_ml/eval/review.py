"""`alslm review`: manual review of evaluation responses with the failure taxonomy (design 8.3).

    alslm review data/eval/rag --reviewer alice            # review a stratified sample (resumable)
    alslm review kappa reviews_alice.jsonl reviews_bob.jsonl  # inter-rater agreement

The sample (30-50 responses, default 40) is stratified by category and automatic label and fixed by
a seed, so two reviewers see the same items. Each judgement is appended to the reviewer file
(JSONL) at once; running the command again skips items already reviewed. Type `q` at any prompt
to stop; `b` to skip an item.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import TextIO

from alslm_ml import jsonl
from alslm_ml.disclaimer import SHORT
from alslm_ml.eval.taxonomy import FAILURE_MODES

CORRECTNESS = {"c": "correct", "p": "partially_correct", "i": "incorrect", "r": "refusal"}
SEVERITY = {"l": "low", "m": "medium", "h": "high"}
MODES = {str(i + 1): m for i, m in enumerate(FAILURE_MODES)}
RESULT_FIELDS = {"system", "question_id", "category", "question", "reference_answer", "answer"}
REVIEWER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Quit(Exception):
    pass


def sample_items(rows: list[dict], n: int = 40, seed: int = 0) -> list[dict]:
    """Stratified sample: round-robin over (category, automatic label) strata, seeded."""
    rng = random.Random(seed)
    strata: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["system"], r["question_id"])):
        strata[(r["category"], r.get("mode", ""))].append(r)
    for items in strata.values():
        rng.shuffle(items)
    keys = sorted(strata)
    rng.shuffle(keys)
    out: list[dict] = []
    while len(out) < n and any(strata[k] for k in keys):
        for k in keys:
            if strata[k] and len(out) < n:
                out.append(strata[k].pop())
    return out


def item_key(row: dict) -> str:
    return f"{row['system']}::{row['question_id']}"


def read_reviews(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    out = {}
    for where, rec in jsonl.records(path):
        if "key" not in rec:
            raise ValueError(f"{where}: not a review record (no field 'key')")
        out[rec["key"]] = rec
    return out


def _ask(prompt: str, choices: dict[str, str] | None, inp: TextIO, out: TextIO, allow_empty: bool = False) -> str:
    while True:
        out.write(prompt)
        out.flush()
        line = inp.readline()
        if not line:  # end of input: stop like `q`
            raise Quit
        answer = line.strip().lower() if choices else line.strip()
        if answer.lower() == "q":
            raise Quit
        if choices is None or answer in choices or (allow_empty and answer == ""):
            return answer
        out.write(f"  please answer one of: {', '.join(choices)}\n")


def _show(row: dict, i: int, total: int, out: TextIO) -> None:
    wrap = lambda s: textwrap.fill(s or "(empty)", 96, initial_indent="    ", subsequent_indent="    ")  # noqa: E731
    out.write(f"\n=== [{i}/{total}] {row['system']} · {row['question_id']} · {row['category']}"
              f"{' · TRAP' if row.get('is_trap') else ''} ===\n")
    out.write(f"Question:\n{wrap(row['question'])}\nReference:\n{wrap(row['reference_answer'])}\n")
    out.write(f"Key facts: {', '.join(row.get('key_facts', []))}\nAnswer:\n{wrap(row['answer'])}\n")
    out.write(f"(automatic: {row.get('mode')} / {row.get('severity')}; accuracy {row.get('accuracy')})\n")


def review(rows: list[dict], reviewer: str, path: Path, n: int = 40, seed: int = 0,
           inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Interactive loop; returns how many items were reviewed in this session."""
    items = sample_items(rows, n, seed)
    done = read_reviews(path)
    todo = [r for r in items if item_key(r) not in done]
    out.write(f"{SHORT}\nReviewer {reviewer}: {len(items) - len(todo)}/{len(items)} already reviewed, {len(todo)} to go. "
              "Answers: q quits (progress is saved), b skips.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        for i, row in enumerate(todo, len(items) - len(todo) + 1):
            _show(row, i, len(items), out)
            corr = _ask("Correctness [c]orrect [p]artial [i]ncorrect [r]efusal, [b] skip: ", {**CORRECTNESS, "b": "skip"}, inp, out)
            if corr == "b":
                continue
            mode, severity = "", ""
            if CORRECTNESS[corr] in ("partially_correct", "incorrect"):
                menu = "  ".join(f"{k}={v}" for k, v in MODES.items())
                mode = MODES[_ask(f"Failure mode {menu}: ", MODES, inp, out)]
                severity = SEVERITY[_ask("Severity [l]ow [m]edium [h]igh: ", SEVERITY, inp, out)]
            notes = _ask("Notes (enter to skip): ", None, inp, out, allow_empty=True)
            rec = {"key": item_key(row), "system": row["system"], "question_id": row["question_id"],
                   "reviewer": reviewer, "correctness": CORRECTNESS[corr], "failure_mode": mode or "none",
                   "severity": severity or "none", "notes": notes, "auto_mode": row.get("mode")}
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            count += 1
    except Quit:
        out.write("\nStopped; progress saved.\n")
    done = read_reviews(path)
    out.write(f"{sum(item_key(r) in done for r in items)}/{len(items)} reviewed -> {path}\n")
    return count


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa for two raters' labels of the same items (1.0 = perfect, 0 = chance)."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two equally long, non-empty label lists")
    n = len(a)
    labels = set(a) | set(b)
    po = sum(x == y for x, y in zip(a, b)) / n
    pe = sum((a.count(lab) / n) * (b.count(lab) / n) for lab in labels)
    return 1.0 if pe == 1 else round((po - pe) / (1 - pe), 4)


def kappa_report(path_a: Path, path_b: Path) -> dict:
    for p in (path_a, path_b):
        if not p.is_file():
            raise FileNotFoundError(f"reviewer file {p} {'is a directory' if p.is_dir() else 'does not exist'}; "
                                    "give two reviews_<name>.jsonl files written by `alslm review`")
    ra, rb = read_reviews(path_a), read_reviews(path_b)
    common = sorted(set(ra) & set(rb))
    if not common:
        raise ValueError(f"{path_a} and {path_b} share no reviewed items")
    res = {"n": len(common)}
    for field in ("correctness", "failure_mode"):
        x, y = [ra[k][field] for k in common], [rb[k][field] for k in common]
        res[field] = {"kappa": cohen_kappa(x, y), "agreement": round(sum(i == j for i, j in zip(x, y)) / len(x), 4)}
    return res


def load_rows(src: Path) -> list[dict]:
    """Rows from an eval output dir (results.json) or a results.json file; several dirs under a
    parent (data/eval/) are combined."""
    files = [src] if src.is_file() else sorted(src.glob("results.json")) or sorted(src.glob("*/results.json"))
    if not files:
        raise FileNotFoundError(f"no results.json in {src} (run `alslm eval` or an eval_* asset first)")
    rows = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{f}: not a JSON results file ({exc})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) and RESULT_FIELDS <= set(r) for r in data):
            raise ValueError(f"{f}: not an evaluation results file (expected a list of rows with "
                             f"{', '.join(sorted(RESULT_FIELDS))}; written by `alslm eval` as results.json)")
        rows += data
    return rows


def safe_reviewer(name: str) -> str:
    """The reviewer name becomes part of a file name: letters, digits, '.', '_', '-' only."""
    if not REVIEWER_NAME.fullmatch(name or "") or name in (".", ".."):
        raise ValueError(f"--reviewer {name!r}: use 1-64 letters, digits, '.', '_' or '-' (it names the file "
                         "reviews_<reviewer>.jsonl next to the results)")
    return name


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["kappa"]:
        p = argparse.ArgumentParser(prog="alslm review kappa", description="Cohen's kappa between two reviewer files")
        p.add_argument("file_a", type=Path)
        p.add_argument("file_b", type=Path)
        args = p.parse_args(argv[1:])
        try:
            print(json.dumps(kappa_report(args.file_a, args.file_b)))
        except (ValueError, FileNotFoundError) as exc:
            print(f"alslm review kappa: {exc}", file=sys.stderr)
            return 2
        return 0
    p = argparse.ArgumentParser(prog="alslm review", description=f"Manual review of eval responses. {SHORT}",
                                epilog="alslm review kappa FILE_A FILE_B: inter-rater agreement")
    p.add_argument("results", type=Path, help="eval output dir (with results.json) or data/eval/")
    user = os.environ.get("USER") or ""
    p.add_argument("--reviewer", default=user if REVIEWER_NAME.fullmatch(user) else "reviewer",
                   help="your name: letters, digits, '.', '_', '-' (default: $USER)")
    p.add_argument("--out", type=Path, default=None, help="reviewer file (default RESULTS/reviews_<reviewer>.jsonl)")
    p.add_argument("--n", type=int, default=40, help="sample size (30-50 recommended)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        safe_reviewer(args.reviewer)
        rows = load_rows(args.results)
    except (ValueError, FileNotFoundError) as exc:
        print(f"alslm review: {exc}", file=sys.stderr)
        return 2
    base = args.results if args.results.is_dir() else args.results.parent
    path = args.out or base / f"reviews_{args.reviewer}.jsonl"
    review(rows, args.reviewer, path, args.n, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
