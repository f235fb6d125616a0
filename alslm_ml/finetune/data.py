"""The instruction data set for LoRA fine-tuning (seed 002, section 4), built from grounded ALS
question-answer pairs written from the starter corpus, kept disjoint from the benchmark.

Pipeline: load + validate -> normalize -> quality filters -> drop duplicates -> drop near matches
of benchmark questions -> shuffle (seed 42) and split 85/10/5. Each step counts what it removed,
so the asset metadata says exactly where examples went.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from alslm_ml import jsonl, markdown, paths
from alslm_ml.benchmark import Question, load_benchmark
from alslm_ml.sources.starter import load_starter

STARTER_QA = paths.STARTER_QA

# Seed 002's system prompt, verbatim: the fine-tuning arm reproduces that recipe.
QA_SYSTEM_PROMPT = (
    "You are a knowledgeable and accurate medical assistant. Answer medical questions clearly "
    "and concisely based on established medical knowledge. If a question is outside the medical "
    "domain, politely indicate that it is outside your specialty."
)

MIN_QUESTION_CHARS = 5
MIN_ANSWER_CHARS = 10
BARE_BOOLEANS = {"yes", "no", "true", "false"}

# Near-duplicate threshold against benchmark questions (texts lower-cased, punctuation stripped):
# a pair is a near match when fuzz.ratio >= 85 (same question, reworded a little), or when
# fuzz.token_set_ratio >= 90 and the shorter question has >= 5 words (one question's words are
# almost all inside the other's). The word floor keeps short generic questions ("what is als")
# from matching every long question that contains them.
RATIO_THRESHOLD = 85.0
TOKEN_SET_THRESHOLD = 90.0
TOKEN_SET_MIN_WORDS = 5

SPLIT_FRACTIONS = (0.85, 0.10, 0.05)
SPLIT_SEED = 42


def _noop(_: str) -> None:
    pass


@dataclass
class Example:
    question: str
    answer: str
    doc_id: str = ""
    origin: str = ""  # file:line the pair came from

    def messages(self, system_prompt: str = QA_SYSTEM_PROMPT) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": self.answer},
        ]


# --- loading ---------------------------------------------------------------------------------


def starter_corpus_ids(docs_dir: Path | None = None) -> dict[str, str]:
    """The starter documents' front-matter ids (what the Q&A files cite as doc_id), each mapped to
    its corpus document id ("starter:<slug>"); read by the starter loader, which validates them."""
    return {d.metadata["starter_id"]: d.id for d in load_starter(docs_dir)}


def starter_doc_ids(docs_dir: Path | None = None) -> set[str]:
    """The starter documents' front-matter ids."""
    return set(starter_corpus_ids(docs_dir))


def load_qa_jsonl(path: Path, doc_ids: Iterable[str] | None = None) -> list[Example]:
    """Read {"question","answer","doc_id"} lines; a bad line stops with file:line and the field."""
    out = []
    for where, rec in jsonl.records(path):
        for key in ("question", "answer", "doc_id"):
            if not isinstance(rec.get(key), str) or not rec[key].strip():
                raise ValueError(f"{where}: field {key!r} is missing or not a non-empty string")
        if doc_ids is not None and rec["doc_id"] not in doc_ids:
            raise ValueError(f"{where}: field 'doc_id' = {rec['doc_id']!r} is not a starter document id")
        out.append(Example(rec["question"], rec["answer"], rec["doc_id"], where))
    return out


def load_flashcards(path: Path) -> list[Example]:
    """A user's file in the medical-flashcards format (instruction / input / output), as JSON (a
    list or JSON lines) or CSV. The question is `input`, or `instruction` when input is empty."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"flashcards file {path} does not exist")
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        first_line = 2  # line 1 is the header
    else:
        text = path.read_text(encoding="utf-8")
        try:
            obj = json.loads(text)
            rows = obj if isinstance(obj, list) else [obj]
            first_line = 1
        except json.JSONDecodeError:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            first_line = 1
    out = []
    for i, row in enumerate(rows):
        where = f"{path}:{'row ' if path.suffix.lower() != '.csv' else ''}{i + first_line}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object with instruction/input/output")
        if "output" not in row:
            raise ValueError(f"{where}: field 'output' is missing")
        question = str(row.get("input") or "").strip() or str(row.get("instruction") or "").strip()
        if not question:
            raise ValueError(f"{where}: fields 'input' and 'instruction' are both empty")
        out.append(Example(question, str(row["output"] or ""), "", where))
    return out


def benchmark_pairs(questions: Iterable[Question] | None = None) -> list[tuple[str, str]]:
    """(id, question) of each benchmark question (default: the shipped benchmark)."""
    return [(q.id, q.question) for q in (load_benchmark() if questions is None else questions)]


# --- preprocessing ---------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Drop null bytes and control characters, collapse whitespace runs to one space."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def quality_issue(ex: Example) -> str | None:
    """Seed 002's quality filters; returns the filter that rejects the pair, or None."""
    if len(ex.question) < MIN_QUESTION_CHARS:
        return "question_too_short"
    if ex.answer.strip(" .!").lower() in BARE_BOOLEANS:
        return "bare_boolean_answer"
    if len(ex.answer) < MIN_ANSWER_CHARS:
        return "answer_too_short"
    return None


def near_match(a: str, b: str) -> tuple[bool, float, float]:
    """Whether question a is a near match of question b (see RATIO_THRESHOLD), with both scores."""
    pa, pb = default_process(a), default_process(b)
    ratio = fuzz.ratio(pa, pb)
    token_set = fuzz.token_set_ratio(pa, pb)
    long_enough = min(len(pa.split()), len(pb.split())) >= TOKEN_SET_MIN_WORDS
    return ratio >= RATIO_THRESHOLD or (long_enough and token_set >= TOKEN_SET_THRESHOLD), ratio, token_set


def benchmark_overlaps(examples: list[Example], benchmark: list[tuple[str, str]]) -> list[dict]:
    """Every (example, benchmark question) near match, with scores."""
    hits = []
    for ex in examples:
        for bid, bq in benchmark:
            hit, ratio, token_set = near_match(ex.question, bq)
            if hit:
                hits.append({"question": ex.question, "origin": ex.origin, "benchmark_id": bid,
                             "benchmark_question": bq, "ratio": round(ratio, 1),
                             "token_set_ratio": round(token_set, 1)})
    return hits


def split(examples: list[Example], seed: int = SPLIT_SEED, fractions=SPLIT_FRACTIONS) -> dict[str, list[Example]]:
    """Shuffle with a fixed seed and cut into train/val/test (85/10/5 by default)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    n_train = n - n_val - n_test
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return {"train": pick(order[:n_train]), "val": pick(order[n_train:n_train + n_val]),
            "test": pick(order[n_train + n_val:])}


def build(raw: list[Example], benchmark: list[tuple[str, str]]) -> tuple[dict[str, list[Example]], dict]:
    """Normalize, filter, decontaminate and split. Returns the splits and a report of counts."""
    report: dict = {"input": len(raw), "removed": {}, "benchmark_near_matches": []}
    removed = report["removed"]
    kept, seen = [], set()
    for ex in raw:
        ex = Example(normalize(ex.question), normalize(ex.answer), ex.doc_id, ex.origin)
        issue = quality_issue(ex)
        key = default_process(ex.question)
        if issue is None and key in seen:
            issue = "duplicate_question"
        if issue:
            removed[issue] = removed.get(issue, 0) + 1
            continue
        seen.add(key)
        kept.append(ex)
    hits = benchmark_overlaps(kept, benchmark)
    contaminated = {h["origin"] for h in hits}
    removed["benchmark_near_match"] = len(contaminated)
    report["benchmark_near_matches"] = hits
    kept = [ex for ex in kept if ex.origin not in contaminated]
    splits = split(kept)
    report["kept"] = len(kept)
    report["splits"] = {k: len(v) for k, v in splits.items()}
    return splits, report


def write_splits(splits: dict[str, list[Example]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")


def read_split(out_dir: Path, name: str) -> list[Example]:
    path = Path(out_dir) / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: materialize the `instruction_dataset` asset first")
    return [Example(**rec) for _, rec in jsonl.records(path)]


def fingerprint(out_dir: Path) -> str:
    """Short hash of the split files: experiments record it, so results of an older data set are
    never compared with (or merged over) a newer one."""
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        path = Path(out_dir) / f"{name}.jsonl"
        h.update(path.read_bytes() if path.is_file() else b"")
    return h.hexdigest()[:16]


# --- the instruction_dataset asset's step --------------------------------------------------------


def decontamination_set(benchmark: Iterable[Question]) -> list[tuple[str, str]]:
    """The questions the instruction data must stay clear of: the benchmark the `benchmark` asset
    validated (may be a user's file) followed by the shipped one."""
    return benchmark_pairs(benchmark) + benchmark_pairs()


def load_examples(include_starter: bool, flashcards_path: str = "", corpus_ids: set[str] | None = None,
                  log: Callable[[str], None] = _noop, warn: Callable[[str], None] = _noop) -> list[Example]:
    """The raw examples: the starter Q&A pairs (their doc_ids checked against the starter corpus,
    and warned about when `corpus` no longer holds the document) and a user's flashcards file."""
    raw: list[Example] = []
    if include_starter:
        ids = starter_corpus_ids()
        for path in STARTER_QA:
            rows = load_qa_jsonl(path, ids)
            log(f"{path.name}: {len(rows)} Q&A pairs")
            raw += rows
        if corpus_ids is not None:
            missing = sorted({e.doc_id for e in raw if ids[e.doc_id] not in corpus_ids})
            if missing:
                warn(f"{len(missing)} Q&A source documents are not in `corpus` (dropped by dedup?): {missing[:5]}")
    if flashcards_path:
        cards = load_flashcards(flashcards_path)
        log(f"{flashcards_path}: {len(cards)} flashcards")
        raw += cards
    if not raw:
        raise ValueError("instruction_dataset: no examples (include_starter is false and no flashcards_path given)")
    return raw


def build_dataset(raw: list[Example], benchmark: Iterable[Question], out_dir: Path) -> tuple[dict[str, list[Example]], dict]:
    """Build, write the splits and meta.json (the report with the decontamination count and the
    data set's fingerprint) to out_dir; returns the splits and the report."""
    bench = decontamination_set(benchmark)
    splits, report = build(raw, bench)
    write_splits(splits, out_dir)
    report["benchmark_questions"] = len(bench)
    report["fingerprint"] = fingerprint(out_dir)
    (out_dir / "meta.json").write_text(json.dumps(report, indent=2))
    return splits, report


def near_matches_markdown(hits: list[dict]) -> str:
    """The benchmark near matches removed, as a Markdown table."""
    return markdown.table(["benchmark id", "ratio", "token_set", "Q&A question"],
                          [(h["benchmark_id"], h["ratio"], h["token_set_ratio"], h["question"]) for h in hits])
