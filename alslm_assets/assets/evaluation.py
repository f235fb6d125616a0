"""Evaluation stage: benchmark, entity registry, one eval_* asset per system, and the comparison
report. Logic lives in alslm_ml.eval and alslm_ml.report; these assets load, call and log.

Embedded default: each system answers a stratified sample (EvalConfig.per_category questions per
category, traps included) with greedy decoding and EvalConfig.max_tokens. The full benchmark is
`per_category: 0`.
"""


import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from alslm_ml import paths
from alslm_ml.eval.benchmark import CATEGORIES, counts, load_benchmark, save_benchmark, stratified_sample
from alslm_ml.eval.entities import build_registry
from alslm_ml.eval.registry_io import load_registry, save_registry
from alslm_ml.eval.runner import evaluate, load_results, tables
from alslm_ml.processing import store
from alslm_ml.report.comparison import build_report
from alslm_ml.systems import GenerationConfig, load_system

GROUP = "evaluation"
SCHEMA = "alslm"
# An eval asset's own table: one row per evaluated system with its headline metrics. The
# per-question rows live once, in the normalized eval_responses / eval_scores / eval_fabrications /
# eval_taxonomy tables (joined on system, question_id).
# One row per system and question, for browsing in SQL: a view, so the rows are stored once.
ANSWERS_VIEW = f"""
CREATE OR REPLACE VIEW {SCHEMA}.eval_answers AS
SELECT r.system, r.question_id, r.category, r.difficulty, r.is_trap, s.accuracy, s.passed, t.mode, t.severity,
       s.hedged, s.refused, s.degenerate, s.coherence, s.n_entities, s.n_unknown, s.retrieval_hit,
       s.facts_negated, r.seconds, r.error, r.answer
FROM {SCHEMA}.eval_responses r
JOIN {SCHEMA}.eval_scores s USING (system, question_id)
JOIN {SCHEMA}.eval_taxonomy t USING (system, question_id)
"""
SUMMARY_COLUMNS = ["n", "mean_accuracy", "pass_rate", "fabrication_rate", "contradiction_rate", "trap_refusal_rate",
                   "degenerate_rate", "hedging_rate", "mean_coherence", "capability_gap", "mean_seconds", "errors"]


class BenchmarkConfig(Config):
    path: str = ""  # a benchmark JSON in the same format; empty = the shipped questions.json


class EvalConfig(Config):
    per_category: int = 5  # stratified sample size per category (traps included); 0 = full benchmark
    max_tokens: int = 48  # greedy decoding budget per answer (all reference answers pass within 44 tokens)
    threshold: float = 80.0  # key-fact fuzzy match threshold
    seed: int = 0
    resume: bool = True  # reuse answers cached in data/eval/<system>/responses.jsonl


class ScratchEvalConfig(EvalConfig):
    quants: list[str] = ["f16", "q8_0", "q5_k_m", "q4_k_m"]
    torch: bool = True  # also evaluate the PyTorch checkpoint


def _md_counts(c: dict) -> str:
    rows = [f"| {k} | {v} |" for k, v in sorted(c["by_category"].items())]
    rows += [f"| *{k}* | {v} |" for k, v in sorted(c["by_difficulty"].items())]
    return "| group | questions |\n|---|---|\n" + "\n".join(rows) + f"\n| **traps** | {c['traps']} |\n| **total** | {c['n']} |"


@asset(group_name=GROUP, description="The hallucination benchmark, validated (data/eval/benchmark.json).")
def benchmark(context: AssetExecutionContext, config: BenchmarkConfig) -> MaterializeResult:
    questions = load_benchmark(config.path or None)
    out = save_benchmark(questions, paths.sub("eval") / "benchmark.json")
    c = counts(questions)
    context.log.info(f"benchmark: {c['n']} questions, {c['traps']} traps -> {out}")
    return MaterializeResult(metadata={"path": str(out), "questions": c["n"], "traps": c["traps"],
                                       "counts": MetadataValue.md(_md_counts(c))})


@asset_check(asset=benchmark, description="Every category present and at least 10% trap questions.")
def benchmark_composition() -> AssetCheckResult:
    c = counts(load_benchmark(paths.data_dir() / "eval" / "benchmark.json"))
    missing = [cat for cat in CATEGORIES if cat not in c["by_category"]]
    trap_share = c["traps"] / c["n"]
    return AssetCheckResult(passed=not missing and trap_share >= 0.10, severity=AssetCheckSeverity.WARN,
                            metadata={"missing_categories": MetadataValue.json(missing), "trap_share": round(trap_share, 4),
                                      "questions": c["n"]})


@asset(group_name=GROUP, deps=["corpus"],
       description="Drug, gene and trial names known to be real: the corpus plus curated lists.")
def entity_registry(context: AssetExecutionContext, duckdb: DuckDBResource) -> pd.DataFrame:
    with duckdb.get_connection() as con:  # the corpus table is written by the corpus asset itself
        corpus = store.read_frame(con, "corpus", ["id", "source", "title", "text"])
    frame = build_registry(corpus)
    path = save_registry(frame)
    by = frame.groupby(["kind", "origin"]).size().to_dict()
    context.log.info(f"entity registry: {len(frame)} names from {len(corpus)} corpus documents -> {path}")
    context.add_output_metadata({"names": len(frame), "path": str(path),
                                 "by_kind_origin": MetadataValue.json({f"{k}/{o}": int(n) for (k, o), n in by.items()})})
    return frame


def _store(duckdb: DuckDBResource, frames: dict[str, pd.DataFrame], systems: list[str]) -> None:
    """Replace this run's systems in alslm.eval_{responses,scores,fabrications,taxonomy}."""
    with duckdb.get_connection() as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        existing = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA]).fetchall()}
        for name, frame in frames.items():
            table = f"{SCHEMA}.eval_{name}"
            if f"eval_{name}" in existing:
                conn.execute(f"DELETE FROM {table} WHERE CAST(system AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))", [systems])
            if frame.empty:  # nothing to add (and no rows to infer column types from)
                continue
            conn.register("_frame", frame)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _frame WHERE false")
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _frame")
            conn.unregister("_frame")
        conn.execute(ANSWERS_VIEW)


def _run(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource,
         variants: list[tuple[str, str, dict]]) -> pd.DataFrame:
    """Evaluate each (label, system name, options); returns one summary row per evaluated system."""
    questions = stratified_sample(load_benchmark(paths.data_dir() / "eval" / "benchmark.json"), config.per_category, config.seed)
    registry, origin = load_registry()
    context.log.info(f"{len(questions)} questions per system; registry: {origin} ({registry.size} names)")
    cfg = GenerationConfig.greedy(config.max_tokens)
    all_rows, summaries, failed = [], {}, {}
    for label, name, options in variants:
        try:
            system = load_system(name, **options)
        except Exception as exc:  # noqa: BLE001 - one missing model must not hide the others
            context.log.error(f"{label}: could not load system {name} {options}: {exc}")
            failed[label] = f"{type(exc).__name__}: {exc}"
            continue

        def progress(i: int, n: int, row: dict, label: str = label) -> None:
            if i % 5 == 0 or i == n:
                context.log.info(f"{label}: {i}/{n} answered (last: {row['question_id']} {row['mode']})")

        try:
            summaries[label] = evaluate(system, questions, paths.sub("eval", label), registry, cfg, label,
                                        config.threshold, progress, config.resume)
        finally:
            system.close()
        rows, _ = load_results(paths.sub("eval", label))
        all_rows += rows
        s = summaries[label]
        context.log.info(f"{label}: accuracy {s['mean_accuracy']}, pass {s['pass_rate']}, fabrication "
                         f"{s['fabrication_rate']}, trap refusal {s['trap_refusal_rate']}, degenerate {s['degenerate_rate']}")
    if not summaries:
        raise RuntimeError(f"no system could be evaluated: {json.dumps(failed)}")
    _store(duckdb, tables(all_rows), list(summaries))
    headline = {k: {m: s.get(m) for m in SUMMARY_COLUMNS} for k, s in summaries.items()}
    context.add_output_metadata({"summary": MetadataValue.json(headline), "failed": MetadataValue.json(failed),
                                 "questions": len(questions), "results_dirs": MetadataValue.json(
                                     {k: str(paths.data_dir() / "eval" / k) for k in summaries})})
    frame = pd.DataFrame([{"system": k, **v} for k, v in headline.items()], columns=["system", *SUMMARY_COLUMNS])
    return frame.astype({c: "float64" for c in SUMMARY_COLUMNS if c not in ("n", "errors")})


_EVAL_DEPS = ["benchmark", "entity_registry"]


@asset(group_name=GROUP, deps=[*_EVAL_DEPS, "gguf_models", "model_checkpoint"],
       description="From-scratch model on the benchmark: every GGUF quantization (llama.cpp) and the torch checkpoint.")
def eval_scratch(context: AssetExecutionContext, config: ScratchEvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    variants = [(f"scratch-{q}", "scratch", {"backend": "llamacpp", "quant": q}) for q in config.quants]
    if config.torch:
        variants.append(("scratch-torch", "scratch", {"backend": "torch"}))
    return _run(context, config, duckdb, variants)


@asset(group_name=GROUP, deps=[*_EVAL_DEPS, "vector_index"],
       description="RAG (hybrid retrieval + SmolLM2) on the benchmark, with retrieval vs generation failures.")
def eval_rag(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("rag", "rag", {})])


@asset(group_name=GROUP, deps=_EVAL_DEPS, description="The RAG generator without retrieval, on the benchmark.")
def eval_baseline(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("baseline", "baseline", {})])


@asset(group_name=GROUP, deps=[*_EVAL_DEPS, "finetuned_model"],
       description="The LoRA fine-tuned model and its pretrained base, on the benchmark.")
def eval_finetuned(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("finetuned", "finetuned", {}), ("base", "base", {})])


@asset(group_name=GROUP, deps=["eval_scratch", "eval_rag", "eval_baseline", "eval_finetuned"],
       description="Comparison report (Markdown, JSON, figures) under data/reports/ from whatever eval results exist.")
def eval_comparison(context: AssetExecutionContext) -> MaterializeResult:
    res = build_report(paths.data_dir() / "eval", paths.sub("reports"))
    report = res["report"]
    context.log.info(f"report: {len(report['systems'])} systems, not run: {report['not_run']} -> {res['markdown']}")
    meta = {"report": MetadataValue.md(res["text"]), "markdown": MetadataValue.path(res["markdown"]),
            "json": MetadataValue.path(res["json"]), "systems": len(report["systems"]),
            "not_run": MetadataValue.json(report["not_run"])}
    meta.update({f"figure_{k}": MetadataValue.path(v) for k, v in res["figures"].items()})
    return MaterializeResult(metadata=meta)

