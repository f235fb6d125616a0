"""Evaluation stage: benchmark, entity registry, one eval_* asset per system, and the comparison
report. Logic lives in alslm_ml.eval and alslm_ml.report; these assets load, call and log. The
`benchmark` asset's output (both benchmarks) is an input of every asset that uses it.

Embedded default: each system answers a stratified sample (EvalConfig.per_category questions per
category, traps included) with greedy decoding and EvalConfig.max_tokens. The full benchmark is
`per_category: 0`.

Two benchmarks side by side: the project's own (`data/eval/benchmark.json`, tuned on) and the
blind one (`data/eval/blind_benchmark.json`, written without access to the corpus; it only
measures). Blind runs land in data/eval/blind/<system>/ and in the tables as `<system>@blind`.
"""


import json
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from alslm_assets.metadata import as_metadata
from alslm_ml import paths
from alslm_ml.benchmark import Benchmarks, composition, counts, counts_markdown, fact_coverage, prepare_benchmarks
from alslm_ml.eval.cli import validate_settings
from alslm_ml.eval.entities import build_registry
from alslm_ml.eval.registry_io import load_registry, save_registry
from alslm_ml.eval.runner import tables
from alslm_ml.eval.store import headline, store_results, summary_frame
from alslm_ml.eval.suite import run_suite, sample_benchmarks
from alslm_ml.processing import store
from alslm_ml.processing.tables import corpus_batches
from alslm_ml.report.comparison import write_eval_comparison
from alslm_ml.systems import GenerationConfig, load_system

GROUP = "evaluation"


class BenchmarkConfig(dg.Config):
    path: str = ""  # a benchmark JSON in the same format; empty = the shipped questions.json
    blind_path: str = ""  # the blind benchmark; empty = the shipped blind_questions.json (skipped if absent)


class EvalConfig(dg.Config):
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


def _corpus_texts(duckdb: DuckDBResource) -> Iterator[list[str]]:
    """The corpus table's texts in batches (the corpus asset writes the table itself)."""
    with duckdb.get_connection() as con:
        for frame in corpus_batches(con, columns=("text",)):
            yield list(frame["text"])


def _counts_metadata(questions, prefix: str = "") -> dict:
    c = counts(questions)
    return {f"{prefix}questions": c["n"], f"{prefix}traps": c["traps"], f"{prefix}counts": dg.MetadataValue.md(counts_markdown(c))}


@dg.asset(group_name=GROUP, deps=["corpus"], io_manager_key="benchmark_io",
       description="The hallucination benchmark and the blind one, validated (data/eval/benchmark.json, "
                   "blind_benchmark.json), with the share of their key facts the corpus holds verbatim.")
def benchmark(context: dg.AssetExecutionContext, config: BenchmarkConfig, duckdb: DuckDBResource) -> dg.Output[Benchmarks]:
    bench = prepare_benchmarks(config.path or None, config.blind_path or None)
    with duckdb.get_connection() as con:
        n_docs = con.execute(f"SELECT count(*) FROM {store.table('corpus')}").fetchone()[0] if store.exists(con, "corpus") else 0
    coverage = {"benchmark": fact_coverage(bench.questions, _corpus_texts(duckdb)), "documents": n_docs}
    if bench.blind is not None:
        coverage["blind"] = fact_coverage(bench.blind, _corpus_texts(duckdb))
    paths.eval_dir()
    paths.benchmark_coverage_file().write_text(json.dumps(coverage, indent=1))
    out = paths.benchmark_file()
    context.log.info(f"benchmark: {len(bench.questions)} questions, {counts(bench.questions)['traps']} traps -> {out}; "
                     f"verbatim key-fact coverage {coverage['benchmark']['verbatim']}"
                     + (f"; blind: {coverage['blind']['verbatim']}" if "blind" in coverage else ""))
    meta = {"path": str(out), **_counts_metadata(bench.questions), "coverage": dg.MetadataValue.json(coverage)}
    if bench.blind is not None:
        meta.update({"blind_path": str(paths.blind_benchmark_file()), **_counts_metadata(bench.blind, "blind_")})
    return dg.Output(bench, metadata=meta)


@dg.asset_check(asset=benchmark, description="Every category present and at least 10% trap questions (both benchmarks).")
def benchmark_composition(benchmark: Benchmarks) -> dg.AssetCheckResult:
    meta, ok = {}, True
    for prefix, questions in (("", benchmark.questions), ("blind_", benchmark.blind)):
        if questions is not None:
            passed, details = composition(questions)
            ok = ok and passed
            meta.update({prefix + k: v for k, v in as_metadata(details).items()})
    return dg.AssetCheckResult(passed=ok, severity=dg.AssetCheckSeverity.WARN, metadata=meta)


@dg.asset(group_name=GROUP, deps=["corpus"],
       description="Drug, gene and trial names known to be real: the corpus plus curated lists.")
def entity_registry(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> pd.DataFrame:
    with duckdb.get_connection() as con:  # the corpus table is written by the corpus asset itself
        corpus = store.read_frame(con, "corpus", ["id", "source", "title", "text"])
    frame = build_registry(corpus)
    path = save_registry(frame)
    by = frame.groupby(["kind", "origin"]).size().to_dict()
    context.log.info(f"entity registry: {len(frame)} names from {len(corpus)} corpus documents -> {path}")
    context.add_output_metadata({"names": len(frame), "path": str(path),
                                 "by_kind_origin": dg.MetadataValue.json({f"{k}/{o}": int(n) for (k, o), n in by.items()})})
    return frame


def _run(context: dg.AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource, benchmarks: Benchmarks,
         variants: list[tuple[str, str, dict]]) -> pd.DataFrame:
    """Evaluate each (label, system name, options) on each benchmark; returns one summary row per
    evaluated system and benchmark (blind rows are labelled `<system>@blind`)."""
    validate_settings(f"{context.asset_key.to_user_string()} config", config.per_category, config.max_tokens,
                      config.threshold, quants=getattr(config, "quants", None))
    runs = sample_benchmarks(benchmarks, config.per_category, config.seed, config.blind, config.blind_per_category)
    registry, origin = load_registry()
    sizes = ", ".join(f"{len(r.questions)} ({r.tag or 'benchmark'})" for r in runs)
    context.log.info(f"questions per system: {sizes}; registry: {origin} ({registry.size} names)")
    res = run_suite(variants, runs, registry, GenerationConfig.greedy(config.max_tokens), config.threshold, config.resume,
                    load_system, log=context.log.info, error=context.log.error)
    if not res.summaries:
        raise RuntimeError(f"no system could be evaluated: {json.dumps(res.failed)}")
    with duckdb.get_connection() as con:
        store_results(con, tables(res.rows), list(res.summaries))
    context.add_output_metadata({"summary": dg.MetadataValue.json(headline(res.summaries)), "failed": dg.MetadataValue.json(res.failed),
                                 "questions": len(runs[0].questions), "blind_questions": len(runs[1].questions) if len(runs) > 1 else 0,
                                 "results_dirs": dg.MetadataValue.json(res.results_dirs())})
    return summary_frame(res.summaries)


_EVAL_DEPS = ["entity_registry"]


@dg.asset(group_name=GROUP, deps=[*_EVAL_DEPS, "gguf_models", "model_checkpoint"],
       description="From-scratch model on the benchmark: every GGUF quantization (llama.cpp) and the torch checkpoint.")
def eval_scratch(context: dg.AssetExecutionContext, config: ScratchEvalConfig, duckdb: DuckDBResource,
                 benchmark: Benchmarks) -> pd.DataFrame:
    variants = [(f"scratch-{q}", "scratch", {"backend": "llamacpp", "quant": q}) for q in config.quants]
    if config.torch:
        variants.append(("scratch-torch", "scratch", {"backend": "torch"}))
    return _run(context, config, duckdb, benchmark, variants)


@dg.asset(group_name=GROUP, deps=[*_EVAL_DEPS, "vector_index"],
       description="RAG (hybrid retrieval + SmolLM2) on the benchmark, with retrieval vs generation failures.")
def eval_rag(context: dg.AssetExecutionContext, config: RagEvalConfig, duckdb: DuckDBResource, benchmark: Benchmarks) -> pd.DataFrame:
    return _run(context, config, duckdb, benchmark, [("rag", "rag", {})])


@dg.asset(group_name=GROUP, deps=_EVAL_DEPS, description="The RAG generator without retrieval, on the benchmark.")
def eval_baseline(context: dg.AssetExecutionContext, config: EvalConfig, duckdb: DuckDBResource, benchmark: Benchmarks) -> pd.DataFrame:
    return _run(context, config, duckdb, benchmark, [("baseline", "baseline", {})])


@dg.asset(group_name=GROUP, deps=[*_EVAL_DEPS, "finetuned_model"],
       description="The LoRA fine-tuned model and its pretrained base, on the benchmark.")
def eval_finetuned(context: dg.AssetExecutionContext, config: FinetunedEvalConfig, duckdb: DuckDBResource,
                   benchmark: Benchmarks) -> pd.DataFrame:
    return _run(context, config, duckdb, benchmark, [("finetuned", "finetuned", {}), ("base", "base", {})])


@dg.asset(group_name=GROUP, deps=["eval_scratch", "eval_rag", "eval_baseline", "eval_finetuned"],
       description="Comparison report (Markdown, JSON, figures) under data/reports/ from whatever eval results exist.")
def eval_comparison(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    res = write_eval_comparison(paths.eval_dir(), paths.reports_dir())
    report = res["report"]
    context.log.info(f"report: {len(report['systems'])} systems, not run: {report['not_run']} -> {res['markdown']}")
    meta = {"report": dg.MetadataValue.md(res["text"]), "markdown": dg.MetadataValue.path(res["markdown"]),
            "json": dg.MetadataValue.path(res["json"]), "systems": len(report["systems"]),
            "not_run": dg.MetadataValue.json(report["not_run"])}
    meta.update({f"figure_{k}": dg.MetadataValue.path(v) for k, v in res["figures"].items()})
    return dg.MaterializeResult(metadata=meta)

