"""The hallucination benchmark: loading, validation and stratified sampling.

A benchmark file is JSON: either a list of questions or {"questions": [...], ...}. Each question has
id, category, difficulty, question, reference_answer (alias: verified_answer), key_facts (short
phrases a correct answer contains), source and is_trap. `source` is a citation string or an object
such as {"type": "pubmed", "id": "PMC..."} (benchmarks of other projects write it that way); it is
kept as one string. Extra fields are ignored, so benchmarks written for other ALS-LM versions load too. A bad entry stops loading with its id and field named.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from alslm_ml import markdown, paths

CATEGORIES = (
    "drug_treatment",
    "gene_mutation",
    "diagnostic_criteria",
    "clinical_trials",
    "disease_mechanisms",
    "epidemiology",
    "patient_care",
    "temporal_accuracy",
)
DIFFICULTIES = ("easy", "medium", "hard")
DEFAULT_BENCHMARK = paths.BENCHMARK_QUESTIONS
# The blind benchmark: the same schema, written by someone who never read the starter corpus.
# It only measures; nothing is tuned on it.
BLIND_BENCHMARK = paths.BLIND_QUESTIONS
BLIND_TAG = "@blind"  # run label suffix of results on the blind benchmark: "rag@blind"


class BenchmarkError(ValueError):
    """A benchmark file or entry is malformed; the message names the file, id and field."""


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    difficulty: str
    question: str
    reference_answer: str
    key_facts: tuple[str, ...]
    source: str
    is_trap: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["key_facts"] = list(self.key_facts)
        return d


def _source_text(value: object) -> object:
    """A source object ({"type": "pubmed", "id": "PMC123"}) as one string ("pubmed: PMC123");
    strings and anything else pass through for the string check."""
    if isinstance(value, dict):
        parts = [str(v).strip() for v in value.values() if isinstance(v, (str, int, float)) and str(v).strip()]
        if not parts:
            return None
        return ": ".join(parts[:2]) + (f" ({', '.join(parts[2:])})" if len(parts) > 2 else "")
    return value


def _check(entry: object, index: int, where: str, known_ids: set[str]) -> Question:
    if not isinstance(entry, dict):
        raise BenchmarkError(f"{where}: entry #{index} is {type(entry).__name__}, expected an object")
    qid = entry.get("id")
    if not isinstance(qid, str) or not qid.strip():
        raise BenchmarkError(f"{where}: entry #{index}: field 'id' is missing or not a non-empty string")
    label = f"{where}: question {qid!r}"
    if qid in known_ids:
        raise BenchmarkError(f"{label}: duplicate id")
    entry = dict(entry)
    if "reference_answer" not in entry and "verified_answer" in entry:
        entry["reference_answer"] = entry["verified_answer"]
    entry["source"] = _source_text(entry.get("source"))
    for name in ("category", "difficulty", "question", "reference_answer", "source"):
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            what = "a non-empty string or an object such as {\"type\": \"pubmed\", \"id\": \"PMC...\"}" if name == "source" else "a non-empty string"
            raise BenchmarkError(f"{label}: field {name!r} is missing or not {what}")
    if entry["category"] not in CATEGORIES:
        raise BenchmarkError(f"{label}: field 'category' is {entry['category']!r}; expected one of {', '.join(CATEGORIES)}")
    if entry["difficulty"] not in DIFFICULTIES:
        raise BenchmarkError(f"{label}: field 'difficulty' is {entry['difficulty']!r}; expected one of {', '.join(DIFFICULTIES)}")
    facts = entry.get("key_facts")
    if not isinstance(facts, list) or not facts or not all(isinstance(f, str) and f.strip() for f in facts):
        raise BenchmarkError(f"{label}: field 'key_facts' must be a non-empty list of non-empty strings")
    trap = entry.get("is_trap", False)
    if not isinstance(trap, bool):
        raise BenchmarkError(f"{label}: field 'is_trap' must be true or false, got {trap!r}")
    return Question(
        id=qid,
        category=entry["category"],
        difficulty=entry["difficulty"],
        question=entry["question"].strip(),
        reference_answer=entry["reference_answer"].strip(),
        key_facts=tuple(f.strip() for f in facts),
        source=entry["source"].strip(),
        is_trap=trap,
    )


def parse_benchmark(data: object, where: str = "<benchmark>") -> list[Question]:
    """Validate already-parsed JSON (a list, or an object with a 'questions' list)."""
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise BenchmarkError(f"{where}: expected a list of questions or an object with a 'questions' list")
    if not items:
        raise BenchmarkError(f"{where}: the benchmark has no questions")
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(items):
        question = _check(entry, i, where, seen)
        seen.add(question.id)
        out.append(question)
    return out


def load_benchmark(path: str | Path | None = None) -> list[Question]:
    """Load and validate a benchmark file (default: the one shipped with ALS-LM)."""
    path = Path(path) if path else DEFAULT_BENCHMARK
    if not path.exists():
        raise BenchmarkError(f"benchmark file not found: {path}")
    if not path.is_file():
        raise BenchmarkError(f"{path}: is a directory, not a benchmark JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BenchmarkError(f"{path}: not UTF-8 text (byte {exc.start}); save the benchmark as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BenchmarkError(f"{path}: not valid JSON ({exc})") from exc
    return parse_benchmark(data, where=str(path))


def save_benchmark(questions: list[Question], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"questions": [q.to_dict() for q in questions]}, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def stratified_sample(questions: list[Question], per_category: int, seed: int = 0) -> list[Question]:
    """`per_category` questions from each category, at least one trap where a category has traps,
    and easy/medium/hard mixed; deterministic for a seed. per_category <= 0 returns everything."""
    if per_category <= 0:
        return list(questions)
    rng = random.Random(seed)
    picked: list[Question] = []
    for category in CATEGORIES:
        pool = [q for q in questions if q.category == category]
        traps = [q for q in pool if q.is_trap]
        rest = [q for q in pool if not q.is_trap]
        rng.shuffle(traps)
        chosen = traps[:1] if per_category > 1 or not rest else []
        # Round-robin over difficulty so the sample is not all "medium".
        by_diff = {d: [q for q in rest if q.difficulty == d] for d in DIFFICULTIES}
        for qs in by_diff.values():
            rng.shuffle(qs)
        while len(chosen) < per_category and any(by_diff.values()):
            for d in DIFFICULTIES:
                if by_diff[d] and len(chosen) < per_category:
                    chosen.append(by_diff[d].pop())
        picked.extend(chosen)
    order = {q.id: i for i, q in enumerate(questions)}
    return sorted(picked, key=lambda q: order[q.id])


def counts(questions: list[Question]) -> dict:
    """Counts per category, difficulty and trap flag, for asset metadata."""
    return {
        "n": len(questions),
        "by_category": dict(Counter(q.category for q in questions)),
        "by_difficulty": dict(Counter(q.difficulty for q in questions)),
        "traps": sum(q.is_trap for q in questions),
    }


def fact_coverage(questions: list[Question], texts: Iterable[str] | Iterable[list[str]]) -> dict:
    """How much of a benchmark a corpus can answer verbatim: the share of the real (non-trap)
    questions' key facts that occur word for word (case-insensitive) in some text, overall and
    per category. A benchmark written alongside its corpus scores near 100%; that measures
    recall of the corpus, not knowledge of ALS. `texts` is an iterable of texts or of batches of
    texts (as the corpus table streams them): only the facts not yet found are kept."""
    wanted = [(q.category, f.lower()) for q in questions if not q.is_trap for f in q.key_facts]
    missing = {f for _, f in wanted}
    for item in texts:
        batch = item if isinstance(item, list) else [item]
        if missing:
            hay = "\n".join(t.lower() for t in batch if isinstance(t, str))
            missing = {f for f in missing if f not in hay}
    by_cat: dict[str, list[bool]] = {}
    for cat, f in wanted:
        by_cat.setdefault(cat, []).append(f not in missing)
    every = [x for xs in by_cat.values() for x in xs]
    return {"facts": len(every), "verbatim": round(sum(every) / len(every), 4) if every else None,
            "by_category": {c: round(sum(xs) / len(xs), 4) for c, xs in sorted(by_cat.items())}}


def counts_markdown(c: dict) -> str:
    """`counts()` as a Markdown table: questions per category, per difficulty, traps and total."""
    rows = [(k, v) for k, v in sorted(c["by_category"].items())]
    rows += [(f"*{k}*", v) for k, v in sorted(c["by_difficulty"].items())]
    rows += [("**traps**", c["traps"]), ("**total**", c["n"])]
    return markdown.table(["group", "questions"], rows)


def composition(questions: list[Question], min_trap_share: float = 0.10) -> tuple[bool, dict]:
    """(ok, details): every category present and at least min_trap_share trap questions."""
    c = counts(questions)
    missing = [cat for cat in CATEGORIES if cat not in c["by_category"]]
    trap_share = c["traps"] / c["n"]
    return not missing and trap_share >= min_trap_share, {"missing_categories": missing,
                                                         "trap_share": round(trap_share, 4), "questions": c["n"]}


@dataclass
class Benchmarks:
    """The benchmarks a run evaluates on: the project's own (tuned on) and the blind one (only
    measures; None when there is none). The `benchmark` asset's output."""

    questions: list[Question]
    blind: list[Question] | None = None


def prepare_benchmarks(path: str | Path | None = None, blind_path: str | Path | None = None) -> Benchmarks:
    """Load and validate the benchmark (default: shipped) and the blind one (default: the shipped
    blind_questions.json when it exists; an explicit blind_path must exist)."""
    blind_src = Path(blind_path) if blind_path else BLIND_BENCHMARK
    if blind_path and not blind_src.exists():
        raise FileNotFoundError(f"blind benchmark not found: {blind_src} (BenchmarkConfig.blind_path)")
    return Benchmarks(load_benchmark(path or None), load_benchmark(blind_src) if blind_src.exists() else None)


def write_benchmarks(b: Benchmarks) -> tuple[Path, Path | None]:
    """Write data/eval/benchmark.json and blind_benchmark.json; with no blind benchmark a stale
    copy is removed, so it is never evaluated as if it were current."""
    out = save_benchmark(b.questions, paths.benchmark_file())
    blind = paths.blind_benchmark_file()
    if b.blind is not None:
        return out, save_benchmark(b.blind, blind)
    blind.unlink(missing_ok=True)
    return out, None


def read_benchmarks() -> Benchmarks:
    """What `write_benchmarks` wrote (the benchmark asset's files), validated again."""
    path, blind = paths.benchmark_file(), paths.blind_benchmark_file()
    if not path.exists():
        raise BenchmarkError(f"{path} does not exist: materialize the `benchmark` asset first")
    return Benchmarks(load_benchmark(path), load_benchmark(blind) if blind.exists() else None)
