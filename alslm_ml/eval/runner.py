"""Run a System over benchmark questions, score every answer and write the results.

One question that fails (an exception in the system) is recorded with its error and scored as an
empty answer; the run goes on. Answers are appended to `responses.jsonl` as they come, so an
interrupted run resumes where it stopped when started again with the same settings.

Output under `out_dir`:
    responses.jsonl   one line per answered question (the resume cache)
    results.json      per question: answer, scores, entities, taxonomy label
    summary.json      aggregate metrics (see `summarize_scores`)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from alslm_ml import jsonl
from alslm_ml.answer import Answer, System
from alslm_ml.benchmark import Question
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.scoring import THRESHOLD, score_answer
from alslm_ml.eval.taxonomy import LABELS, classify
from alslm_ml.runtime.base import GenerationConfig

Progress = Callable[[int, int, dict], None]
log = logging.getLogger(__name__)


def _retrieved_text(ans: Answer) -> str | None:
    """The passages the system retrieved (RAG's meta["retrieved_text"] is a list of passages;
    a string is accepted too), else the sources' text; None when nothing was retrieved."""
    text = ans.meta.get("retrieved_text") if ans.meta else None
    if text is None and ans.sources:
        text = [s.text for s in ans.sources if s.text]
    if isinstance(text, (list, tuple)):
        text = "\n\n".join(str(t) for t in text if t)
    return text or None


def _artifact_stamp(value: object) -> object:
    """(size, mtime) of a file or of a directory's files when `value` names one, else None.
    Model paths stay the same when a model is retrained; their contents do not."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    path = Path(value)
    try:
        if path.is_file():
            st = path.stat()
            return [st.st_size, st.st_mtime_ns]
        if path.is_dir():
            stats = [f.stat() for f in path.rglob("*") if f.is_file()]
            return [sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    except OSError:
        return None
    return None


def _run_key(label: str, cfg: GenerationConfig, describe: dict) -> str:
    """Identifies a run's answers: system, decoding settings, what the system says it is, and the
    state of every model file or directory it names, so a retrained model never reuses answers."""
    stamps = {k: _artifact_stamp(v) for k, v in describe.items()}
    blob = json.dumps({"system": label, "cfg": cfg.to_dict(), "describe": describe, "artifacts": stamps},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ask(system: System, question: Question, cfg: GenerationConfig) -> dict:
    """One question through the system; never raises."""
    t0 = time.perf_counter()
    try:
        ans = system.answer(question.question, cfg)
        return {
            "answer": ans.text or "",
            "error": "",
            "seconds": round(ans.seconds or time.perf_counter() - t0, 3),
            "prompt_tokens": ans.prompt_tokens,
            "completion_tokens": ans.completion_tokens,
            # An extracted (not generated) answer has no completion tokens; its system counts them.
            "answer_tokens": int((ans.meta or {}).get("answer_tokens", ans.completion_tokens) or 0),
            "retrieved_text": _retrieved_text(ans),
            "sources": [s.doc_id for s in ans.sources],
        }
    except Exception as exc:  # noqa: BLE001 - a failing question is recorded, never fatal
        return {
            "answer": "", "error": f"{type(exc).__name__}: {exc}", "seconds": round(time.perf_counter() - t0, 3),
            "prompt_tokens": 0, "completion_tokens": 0, "answer_tokens": 0, "retrieved_text": None, "sources": [],
        }


def read_cache(path: Path, key: str) -> dict[str, dict]:
    """Cached answers of the run `key`. A line that does not parse (a run killed mid-write leaves
    a cut-off last line) is skipped with a warning, and its question is asked again; the file is
    newline-terminated afterwards so the next answer starts a line of its own."""
    def skipped(where: str) -> None:
        log.warning(f"{where}: skipping a cut-off or unreadable cached answer (its question is asked again)")

    cached: dict[str, dict] = {}
    for where, rec in jsonl.records(path, skip_bad=True, on_skip=skipped):
        if "question_id" not in rec:
            skipped(where)
        elif rec.get("run_key") == key and not rec.get("error"):
            cached[rec["question_id"]] = rec
    with path.open("rb+") as fh:  # only its last byte is read again: does the file end a line?
        end = fh.seek(0, 2)
        if end:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    return cached


def evaluate(
    system: System,
    questions: list[Question],
    out_dir: str | Path,
    registry: Registry | None = None,
    cfg: GenerationConfig | None = None,
    label: str | None = None,
    threshold: float = THRESHOLD,
    progress: Progress | None = None,
    resume: bool = True,
) -> dict:
    """Answer and score `questions`; returns the summary (also written to out_dir/summary.json)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = cfg or GenerationConfig.greedy()
    registry = registry or Registry()
    label = label or system.name
    describe = system.describe()
    key = _run_key(label, cfg, describe)
    cache_path = out / "responses.jsonl"
    cached: dict[str, dict] = {}
    if resume and cache_path.exists():
        cached = read_cache(cache_path, key)
    elif cache_path.exists():
        cache_path.unlink()

    rows = []
    with cache_path.open("a", encoding="utf-8") as cache, tqdm(total=len(questions), desc=f"eval {label}", unit="q") as bar:
        for i, q in enumerate(questions):
            rec = cached.get(q.id)
            if rec is None:
                rec = {"run_key": key, "question_id": q.id, **ask(system, q, cfg)}
                cache.write(json.dumps(rec, ensure_ascii=False) + "\n")
                cache.flush()
            score = score_answer(q, rec["answer"], registry, threshold, rec.get("retrieved_text"))
            tax = classify(q, rec["answer"], score)
            rows.append({
                "system": label, "question_id": q.id, "category": q.category, "difficulty": q.difficulty,
                "is_trap": q.is_trap, "question": q.question, "reference_answer": q.reference_answer,
                "key_facts": list(q.key_facts), "answer": rec["answer"], "error": rec["error"],
                "seconds": rec["seconds"], "prompt_tokens": rec["prompt_tokens"],
                "completion_tokens": rec["completion_tokens"],
                "answer_tokens": rec.get("answer_tokens", rec["completion_tokens"]),
                "answer_words": len(rec["answer"].split()), "sources": rec.get("sources", []),
                "retrieved_text": rec.get("retrieved_text"),
                **{k: v for k, v in score.to_dict().items() if k != "question_id"},
                "mode": tax.mode, "severity": tax.severity, "rule": tax.rule,
            })
            bar.update(1)
            if progress:
                progress(i + 1, len(questions), rows[-1])
    summary = summarize_scores(rows)
    summary.update({"system": label, "describe": describe, "generation": cfg.to_dict(), "threshold": threshold,
                    "registry_size": registry.size})
    (out / "results.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return summary


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _carry(rows: list[dict]) -> float | None:
    """Carry-through pooled over facts: key facts the answers state / key facts the passages held."""
    held = sum(r.get("facts_retrieved") or 0 for r in rows)
    return _rate(sum(r.get("facts_carried") or 0 for r in rows), held)


def _category(rs: list[dict]) -> dict:
    real = [r for r in rs if not r["is_trap"]]
    out = {"n": len(rs), "mean_accuracy": round(sum(r["accuracy"] for r in rs) / len(rs), 4),
           "pass_rate": _rate(sum(r["passed"] for r in rs), len(rs)),
           "non_trap_accuracy": _mean([r["accuracy"] for r in real])}
    if any(r.get("retrieval_accuracy") is not None for r in real):
        out["context_recall"] = _mean([r.get("retrieval_accuracy") for r in real])
        out["carry_through"] = _carry(real)
    return out


def summarize_scores(rows: list[dict]) -> dict:
    """Aggregate metrics over scored rows.

    fabrication_rate = unknown entities / all extracted entities (None when no entity was named);
    contradiction_rate = real (non-trap) questions whose answer states a key fact only negated;
    capability_gap = mean coherence - mean accuracy (fluent but wrong shows as a large gap);
    non_trap_accuracy = mean key-fact accuracy of the real questions (traps are scored by refusal);
    mean/max_answer_tokens (generated or extracted) and mean_answer_words: a longer answer can
    match more fact windows without knowing more, so lengths are reported next to accuracy;
    retrieval split (RAG): wrong answers whose key facts were / were not in the retrieved text,
    context recall (share of key facts in the retrieved passages) and carry-through (share of those
    that reached the answer, pooled over facts; carry_through_mean averages it per question).
    """
    n = len(rows)
    if not n:
        return {"n": 0}
    ents = sum(r["n_entities"] for r in rows)
    unknown = sum(r["n_unknown"] for r in rows)
    traps = [r for r in rows if r["is_trap"]]
    modes = Counter(r["mode"] for r in rows)
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    mean_acc = sum(r["accuracy"] for r in rows) / n
    mean_coh = sum(r["coherence"] for r in rows) / n
    summary = {
        "n": n,
        "mean_accuracy": round(mean_acc, 4),
        "non_trap_accuracy": _mean([r["accuracy"] for r in rows if not r["is_trap"]]),
        "pass_rate": _rate(sum(r["passed"] for r in rows), n),
        "fabrication_rate": _rate(unknown, ents),
        "trap_refusal_rate": _rate(sum(r["refused"] for r in traps), len(traps)),
        "contradiction_rate": _rate(sum(bool(r.get("facts_negated")) for r in rows if not r["is_trap"]), n - len(traps)),
        "degenerate_rate": _rate(sum(r["degenerate"] for r in rows), n),
        "hedging_rate": _rate(sum(r["hedged"] for r in rows), n),
        "mean_coherence": round(mean_coh, 4),
        "capability_gap": round(mean_coh - mean_acc, 4),
        "errors": sum(bool(r["error"]) for r in rows),
        "n_traps": len(traps),
        "entities": ents,
        "unknown_entities": unknown,
        "mean_seconds": round(sum(r["seconds"] for r in rows) / n, 3),
        "mean_completion_tokens": round(sum(r["completion_tokens"] for r in rows) / n, 1),
        "mean_answer_tokens": round(sum(r.get("answer_tokens", r["completion_tokens"]) for r in rows) / n, 1),
        "max_answer_tokens": max(r.get("answer_tokens", r["completion_tokens"]) for r in rows),
        "mean_answer_words": round(sum(r.get("answer_words", len(r["answer"].split())) for r in rows) / n, 1),
        "taxonomy": {m: _rate(modes.get(m, 0), n) for m in LABELS},
        "severity": dict(Counter(r["severity"] for r in rows)),
        "by_category": {c: _category(rs) for c, rs in sorted(by_cat.items())},
    }
    with_retrieval = [r for r in rows if r.get("retrieval_hit") is not None and not r["is_trap"]]
    if with_retrieval:
        wrong = [r for r in with_retrieval if not r["passed"]]
        summary["retrieval"] = {
            "n": len(with_retrieval),
            "retrieval_hit_rate": _rate(sum(r["retrieval_hit"] for r in with_retrieval), len(with_retrieval)),
            "wrong": len(wrong),
            "retrieval_failures": sum(not r["retrieval_hit"] for r in wrong),
            "generation_failures": sum(bool(r["retrieval_hit"]) for r in wrong),
            "context_recall": _mean([r.get("retrieval_accuracy") for r in with_retrieval]),
            "carry_through": _carry(with_retrieval),
            "carry_through_mean": _mean([r.get("carry_through") for r in with_retrieval]),
        }
    return summary


def tables(rows: list[dict]) -> dict[str, pd.DataFrame]:
    """The per-question rows split into the DuckDB tables: responses, scores, fabrications, taxonomy."""
    df = pd.DataFrame(rows)
    if df.empty:
        return {k: pd.DataFrame() for k in ("responses", "scores", "fabrications", "taxonomy")}
    key = ["system", "question_id"]
    for col, default in (("answer_tokens", df["completion_tokens"]), ("carry_through", None)):
        if col not in df:  # rows scored before these fields existed
            df[col] = default
    responses = df[key + ["category", "difficulty", "is_trap", "question", "answer", "error", "seconds",
                          "prompt_tokens", "completion_tokens", "answer_tokens", "retrieved_text"]].copy()
    scores = df[key + ["accuracy", "passed", "hedged", "refused", "coherence", "degenerate", "degenerate_reason",
                       "n_entities", "n_unknown", "retrieval_hit", "retrieval_accuracy", "carry_through"]].copy()
    responses["retrieved_text"] = responses["retrieved_text"].fillna("").astype(str)
    scores["retrieval_hit"] = scores["retrieval_hit"].astype("boolean")
    scores["retrieval_accuracy"] = scores["retrieval_accuracy"].astype("float64")
    scores["carry_through"] = scores["carry_through"].astype("float64")
    scores["facts_found"] = df["facts_found"].map(json.dumps)
    scores["facts_missing"] = df["facts_missing"].map(json.dumps)
    # Rows scored before negation-aware matching have no facts_negated: stored as [].
    negated = df["facts_negated"] if "facts_negated" in df else pd.Series([[]] * len(df), index=df.index)
    scores["facts_negated"] = negated.map(lambda v: json.dumps(v if isinstance(v, list) else []))
    fabs = [
        {"system": r["system"], "question_id": r["question_id"], "entity": e["text"], "kind": e["kind"], "norm": e["norm"]}
        for r in rows for e in r["unknown_entities"]
    ]
    fabrications = pd.DataFrame(fabs, columns=["system", "question_id", "entity", "kind", "norm"])
    taxonomy = df[key + ["category", "mode", "severity", "rule"]].copy()
    return {"responses": responses, "scores": scores, "fabrications": fabrications, "taxonomy": taxonomy}


def load_eval_results(out_dir: str | Path) -> tuple[list[dict], dict]:
    """results.json and summary.json of a finished run."""
    out = Path(out_dir)
    return (json.loads((out / "results.json").read_text(encoding="utf-8")),
            json.loads((out / "summary.json").read_text(encoding="utf-8")))
