"""Evaluation stage: benchmark, entity registry, one eval_* asset per system, and the comparison
report. Logic lives in alslm_ml.eval and alslm_ml.report; these assets load, call and log.

Embedded default: each system answers a stratified sample (EvalConfig.per_category questions per
category, traps included) with greedy decoding and EvalConfig.max_tokens. The full benchmark is
`per_category: 0`.

Two benchmarks side by side: the project's own (`data/eval/benchmark.json`, tuned on) and the
blind one (`data/eval/blind_benchmark.json`, written without access to the corpus; it only
measures). Blind runs land in data/eval/blind/<system>/ and in the tables as `<system>@blind`.
"""


import json
from collections.abc import Iterator
from pathlib import Path

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
from alslm_ml.eval.benchmark import (
    BLIND_BENCHMARK,
    CATEGORIES,
    counts,
    fact_coverage,
    load_benchmark,
    save_benchmark,
    stratified_sample,
)
from alslm_ml.eval.cli import validate_settings
from alslm_ml.eval.entities import build_registry
from alslm_ml.eval.registry_io import load_registry, save_registry
from alslm_ml.eval.runner import evaluate, load_eval_results, tables
from alslm_ml.processing import store
from alslm_ml.processing.tables import corpus_batches
from alslm_ml.report.comparison import write_eval_comparison
from alslm_ml.systems import GenerationConfig, load_system
from alslm_ml.warehouse import SCHEMA, delete_insert, transaction

GROUP = "evaluation"
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
SUMMARY_COLUMNS = ["n", "mean_accuracy", "non_trap_accuracy", "pass_rate", "fabrication_rate", "contradiction_rate",
                   "trap_refusal_rate", "degenerate_rate", "hedging_rate", "mean_coherence", "capability_gap",
                   "mean_answer_tokens", "mean_seconds", "errors"]


class BenchmarkConfig(Config):
    path: str = ""  # a benchmark JSON in the same format; empty = the shipped questions.json
    blind_path: str = ""  # the blind benchmark; empty = the shipped blind_questions.json (skipped if absent)


class EvalConfig(Config):
    per_category: int = 5  # stratified sample size per category (traps included); 0 = full benchmark
    max_tokens: int = 48  # greedy decoding budget per answer (all reference answers pass within 44 tokens)
    threshold: float = 80.0  # key-fact fuzzy match threshold
    seed: int = 0
    resume: bool = True  # reuse answers cached in data/eval/<system>/responses.jsonl
    blind: bool = True  # also answer the blind benchmark (when the benchmark asset wrote one)
    blind_per_category: int = 5  # its stratified sample per category; 0 = all of it


class RagEvalConfig(EvalConfig):
    max_tokens: int = 128  # RAG fills its answer (quoted sentences + one generated lead) up to this


class FinetunedEvalConfig(EvalConfig):
    blind_per_category: int = 2  # two transformers models at ~3 s/answer: a smaller blind sample


class ScratchEvalConfig(EvalConfig):
    quants: list[str] = ["f16", "q8_0", "q5_k_m", "q4_k_m"]
    torch: bool = True  # also evaluate the PyTorch checkpoint


def _md_counts(c: dict) -> str:
    rows = [f"| {k} | {v} |" for k, v in sorted(c["by_category"].items())]
    rows += [f"| *{k}* | {v} |" for k, v in sorted(c["by_difficulty"].items())]
    return "| group | questions |\n|---|---|\n" + "\n".join(rows) + f"\n| **traps** | {c['traps']} |\n| **total** | {c['n']} |"


def _blind_file() -> str:
    return str(paths.data_dir() / "eval" / "blind_benchmark.json")


def _corpus_texts(duckdb: DuckDBResource) -> Iterator[list[str]]:
    """The corpus table's texts in batches (the corpus asset writes the table itself)."""
    with duckdb.get_connection() as con:
        for frame in corpus_batches(con, columns=("text",)):
            yield list(frame["text"])


@asset(group_name=GROUP, deps=["corpus"],
       description="The hallucination benchmark and the blind one, validated (data/eval/benchmark.json, "
                   "blind_benchmark.json), with the share of their key facts the corpus holds verbatim.")
def benchmark(context: AssetExecutionContext, config: BenchmarkConfig, duckdb: DuckDBResource) -> MaterializeResult:
    questions = load_benchmark(config.path or None)
    out = save_benchmark(questions, paths.sub("eval") / "benchmark.json")
    with duckdb.get_connection() as con:
        n_docs = con.execute(f"SELECT count(*) FROM {store.table('corpus')}").fetchone()[0] if store.exists(con, "corpus") else 0
    coverage = {"benchmark": fact_coverage(questions, _corpus_texts(duckdb)), "documents": n_docs}
    blind_src = Path(config.blind_path) if config.blind_path else BLIND_BENCHMARK
    blind = Path(_blind_file())
    if blind_src.exists():
        bq = load_benchmark(blind_src)
        save_benchmark(bq, blind)
        coverage["blind"] = fact_coverage(bq, _corpus_texts(duckdb))
    elif config.blind_path:
        raise FileNotFoundError(f"blind benchmark not found: {blind_src} (BenchmarkConfig.blind_path)")
    elif blind.exists():
        blind.unlink()  # a stale copy must not be evaluated as if it were current
    (paths.sub("eval") / "benchmark_coverage.json").write_text(json.dumps(coverage, indent=1))
    c = counts(questions)
    context.log.info(f"benchmark: {c['n']} questions, {c['traps']} traps -> {out}; verbatim key-fact coverage "
                     f"{coverage['benchmark']['verbatim']}" + (f"; blind: {coverage['blind']['verbatim']}" if "blind" in coverage else ""))
    meta = {"path": str(out), "questions": c["n"], "traps": c["traps"], "counts": MetadataValue.md(_md_counts(c)),
            "coverage": MetadataValue.json(coverage)}
    if "blind" in coverage:
        bc = counts(bq)
        meta.update({"blind_path": str(blind), "blind_questions": bc["n"], "blind_traps": bc["traps"],
                     "blind_counts": MetadataValue.md(_md_counts(bc))})
    return MaterializeResult(metadata=meta)


@asset_check(asset=benchmark, description="Every category present and at least 10% trap questions (both benchmarks).")
def benchmark_composition() -> AssetCheckResult:
    files = [paths.data_dir() / "eval" / "benchmark.json"] + ([Path(_blind_file())] if Path(_blind_file()).exists() else [])
    meta, ok = {}, True
    for f in files:
        c = counts(load_benchmark(f))
        missing = [cat for cat in CATEGORIES if cat not in c["by_category"]]
        trap_share = c["traps"] / c["n"]
        ok = ok and not missing and trap_share >= 0.10
        tag = "" if f.name == "benchmark.json" else "blind_"
        meta.update({f"{tag}missing_categories": MetadataValue.json(missing), f"{tag}trap_share": round(trap_share, 4),
                     f"{tag}questions": c["n"]})
    return AssetCheckResult(passed=ok, severity=AssetCheckSeverity.WARN, metadata=meta)


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
        with transaction(conn):  # all four tables, or none: a failing insert keeps the old rows
            for name, frame in frames.items():
                delete_insert(conn, f"{SCHEMA}.eval_{name}", frame,
                              "CAST(system AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))", [systems])
        conn.execute(ANSWERS_VIEW)


BLIND_TAG = "@blind"


def _benchmarks(config: EvalConfig) -> list[tuple[str, list, "Path"]]:
    """(label suffix, questions, results root) per benchmark this run answers: the project's own,
    then the blind one when the benchmark asset wrote it and config.blind is on."""
    out = [("", stratified_sample(load_benchmark(paths.data_dir() / "eval" / "benchmark.json"), config.per_category,
                                  config.seed), paths.data_dir() / "eval")]
    if config.blind and Path(_blind_file()).exists():
        blind = stratified_sample(load_benchmark(_blind_file()), config.blind_per_category, config.seed)
        out.append((BLIND_TAG, blind, paths.data_dir() / "eval" / "blind"))
    return out


def _run(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource,
         variants: list[tuple[str, str, dict]]) -> pd.DataFrame:
    """Evaluate each (label, system name, options) on each benchmark; returns one summary row per
    evaluated system and benchmark (blind rows are labelled `<system>@blind`)."""
    validate_settings(f"{context.asset_key.to_user_string()} config", config.per_category, config.max_tokens,
                      config.threshold, quants=getattr(config, "quants", None))
    benches = _benchmarks(config)
    registry, origin = load_registry()
    sizes = ", ".join(f"{len(q)} ({tag or 'benchmark'})" for tag, q, _ in benches)
    context.log.info(f"questions per system: {sizes}; registry: {origin} ({registry.size} names)")
    cfg = GenerationConfig.greedy(config.max_tokens)
    all_rows, summaries, failed = [], {}, {}
    for label, name, options in variants:
        try:
            system = load_system(name, **options)
        except Exception as exc:  # noqa: BLE001 - one missing model must not hide the others
            context.log.error(f"{label}: could not load system {name} {options}: {exc}")
            failed[label] = f"{type(exc).__name__}: {exc}"
            continue
        try:
            for tag, questions, root in benches:
                run = label + tag

                def progress(i: int, n: int, row: dict, run: str = run) -> None:
                    if i % 5 == 0 or i == n:
                        context.log.info(f"{run}: {i}/{n} answered (last: {row['question_id']} {row['mode']})")

                out = root / label
                summaries[run] = evaluate(system, questions, out, registry, cfg, run, config.threshold, progress, config.resume)
                rows, _ = load_eval_results(out)
                all_rows += rows
                s = summaries[run]
                context.log.info(f"{run}: non-trap accuracy {s['non_trap_accuracy']}, pass {s['pass_rate']}, fabrication "
                                 f"{s['fabrication_rate']}, trap refusal {s['trap_refusal_rate']}, answer tokens "
                                 f"{s['mean_answer_tokens']}, carry-through {s.get('retrieval', {}).get('carry_through')}")
        finally:
            system.close()
    if not summaries:
        raise RuntimeError(f"no system could be evaluated: {json.dumps(failed)}")
    _store(duckdb, tables(all_rows), list(summaries))
    headline = {k: {m: s.get(m) for m in SUMMARY_COLUMNS} for k, s in summaries.items()}
    context.add_output_metadata({"summary": MetadataValue.json(headline), "failed": MetadataValue.json(failed),
                                 "questions": len(benches[0][1]),
                                 "blind_questions": len(benches[1][1]) if len(benches) > 1 else 0,
                                 "results_dirs": MetadataValue.json({k: str(paths.data_dir() / "eval" / (
                                     f"blind/{k[:-len(BLIND_TAG)]}" if k.endswith(BLIND_TAG) else k)) for k in summaries})})
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
def eval_rag(context: AssetExecutionContext, config: RagEvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("rag", "rag", {})])


@asset(group_name=GROUP, deps=_EVAL_DEPS, description="The RAG generator without retrieval, on the benchmark.")
def eval_baseline(context: AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("baseline", "baseline", {})])


@asset(group_name=GROUP, deps=[*_EVAL_DEPS, "finetuned_model"],
       description="The LoRA fine-tuned model and its pretrained base, on the benchmark.")
def eval_finetuned(context: AssetExecutionContext, config: FinetunedEvalConfig, duckdb: DuckDBResource) -> pd.DataFrame:
    return _run(context, config, duckdb, [("finetuned", "finetuned", {}), ("base", "base", {})])


@asset(group_name=GROUP, deps=["eval_scratch", "eval_rag", "eval_baseline", "eval_finetuned"],
       description="Comparison report (Markdown, JSON, figures) under data/reports/ from whatever eval results exist.")
def eval_comparison(context: AssetExecutionContext) -> MaterializeResult:
    res = write_eval_comparison(paths.data_dir() / "eval", paths.sub("reports"))
    report = res["report"]
    context.log.info(f"report: {len(report['systems'])} systems, not run: {report['not_run']} -> {res['markdown']}")
    meta = {"report": MetadataValue.md(res["text"]), "markdown": MetadataValue.path(res["markdown"]),
            "json": MetadataValue.path(res["json"]), "systems": len(report["systems"]),
            "not_run": MetadataValue.json(report["not_run"])}
    meta.update({f"figure_{k}": MetadataValue.path(v) for k, v in res["figures"].items()})
    return MaterializeResult(metadata=meta)

