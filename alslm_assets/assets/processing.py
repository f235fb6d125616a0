"""Processing stage: clean_documents (per source) -> corpus (+ corpus_duplicates) -> corpus_splits
-> corpus_stats. Each asset writes its DuckDB table itself, in bounded batches, through a staging
table swapped in one transaction (alslm_ml.processing.tables / store); downstream assets name it
in `deps` and read the table in batches, so no step holds the corpus in memory.

After a scheduled re-scrape these assets refresh themselves (eager automation conditions,
evaluated by the `corpus_refresh` sensor)."""


import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from alslm_assets.metadata import as_metadata
from alslm_assets.partitions import source_partitions
from alslm_ml import markdown, paths
from alslm_ml.processing import store, tables
from alslm_ml.processing.corpus_build import build_corpus
from alslm_ml.processing.stats import stats_chart_png, stats_markdown
from alslm_ml.sources.config import load_sources_config

GROUP = "processing"
EAGER = dg.AutomationCondition.eager()


class BatchConfig(dg.Config):
    batch_rows: int = 1000  # documents per batch read from DuckDB (memory is bounded by a few batches)
    workers: int = 1  # worker processes for the per-batch work; 2 on a 2-core machine at scale
    duckdb_memory_limit: str = "1GB"  # DuckDB's buffers (sorts spill to disk beyond it)


class CleanConfig(BatchConfig):
    min_tokens: int = 100  # documents shorter than this after cleaning are dropped (counted)


class DedupConfig(BatchConfig):
    threshold: float = 0.85  # MinHash Jaccard on word 5-grams
    num_perm: int = 128
    min_paragraph_words: int = 8  # shorter paragraphs (headings) are never paragraph-deduplicated
    min_tokens: int = 100  # a document paragraph dedup leaves shorter than this is removed (as in cleaning)
    max_removed_share: float = 0.5  # the dedup-ratio check warns above this share of documents removed
    sources_config: str = ""  # sources.yaml whose settings.licence_allowlist the corpus is checked against (empty = shipped)


class SplitConfig(BatchConfig):
    val_fraction: float = 0.1
    seed: int = 42
    leak_threshold: float = 0.7


def _limit(con, config: BatchConfig) -> None:
    if config.duckdb_memory_limit:
        con.execute(f"SET memory_limit = '{config.duckdb_memory_limit}'")


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


@dg.asset(
    group_name=GROUP,
    partitions_def=source_partitions,
    deps=["raw_documents"],
    metadata={"partition_expr": "source"},
    kinds={"python", "duckdb"},
    automation_condition=EAGER,
    check_specs=[dg.AssetCheckSpec("non_empty", asset="clean_documents", description="the partition kept at least one document")],
    description="Per-source cleaned documents: markup, non-content sections, in-text citations and "
    "volatile sentences removed; NFC and whitespace normalized; documents under min_tokens dropped.",
)
def clean_documents(context: dg.AssetExecutionContext, config: CleanConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    source = context.partition_key
    with duckdb.get_connection() as con:
        _limit(con, config)
        report = tables.clean_partition(con, source, config.min_tokens, config.batch_rows, config.workers, log=context.log.info)
        tokens = con.execute(f"SELECT coalesce(sum(n_tokens), 0) FROM {store.table('clean_documents')} WHERE source = ?", [source]).fetchone()[0]
    context.log.info(f"{source}: kept {report.documents_out}/{report.documents_in} documents; removed {dict(report.removed)}")
    return dg.MaterializeResult(
        metadata={
            **report.as_metadata(),
            "tokens": int(tokens),
            "dropped_short_ids": dg.MetadataValue.json(report.dropped_short[:50]),
        },
        check_results=[dg.AssetCheckResult(
            check_name="non_empty",
            passed=report.documents_out > 0,
            metadata={"documents": report.documents_out, "raw_documents": report.documents_in},
        )],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("corpus", group_name=GROUP, deps=["clean_documents"], kinds={"duckdb"}, automation_condition=EAGER,
                  description="The deduplicated corpus: one row per kept document."),
        dg.AssetSpec("corpus_duplicates", group_name=GROUP, deps=["clean_documents"], kinds={"duckdb"}, automation_condition=EAGER,
                  description="Provenance of every removal: what was dropped as a duplicate of what."),
    ],
    check_specs=[
        dg.AssetCheckSpec("unique_ids", asset="corpus", description="document ids are unique"),
        dg.AssetCheckSpec("licence_allowlist", asset="corpus", description="every licence is on its source's allow-list in sources.yaml"),
        dg.AssetCheckSpec("dedup_ratio", asset="corpus", description="deduplication removed a plausible share of documents"),
    ],
)
def corpus(context: dg.AssetExecutionContext, config: DedupConfig, duckdb: DuckDBResource):
    """MinHash LSH document dedup + SHA-256 paragraph dedup over all sources, streamed in (source, id) order."""
    sources_cfg = load_sources_config(config.sources_config or None)  # its licence allow-list is the licence rule
    with duckdb.get_connection() as con:
        _limit(con, config)
        built = build_corpus(con, sources_cfg, config.threshold, config.num_perm, config.min_paragraph_words,
                             config.min_tokens, config.max_removed_share, config.batch_rows, config.workers,
                             log=context.log.info)
    context.log.info(built.log)
    yield dg.MaterializeResult(asset_key="corpus", metadata=as_metadata(built.corpus))
    yield dg.MaterializeResult(asset_key="corpus_duplicates", metadata=built.duplicates)
    for name, (passed, meta) in built.checks.items():
        severity = {"severity": dg.AssetCheckSeverity.WARN} if name == "dedup_ratio" else {}
        yield dg.AssetCheckResult(check_name=name, asset_key="corpus", passed=passed, metadata=as_metadata(meta), **severity)


@dg.asset(
    group_name=GROUP,
    deps=["corpus"],
    kinds={"duckdb"},
    automation_condition=EAGER,
    check_specs=[dg.AssetCheckSpec("no_leakage", asset="corpus_splits", blocking=True, description="no val document is a near-duplicate (MinHash Jaccard >= 0.7) of a train document")],
    description="90/10 document-level split, stratified by source, seeded; near-duplicate groups stay in one split.",
)
def corpus_splits(context: dg.AssetExecutionContext, config: SplitConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as con:
        _limit(con, config)
        s = tables.split_corpus(con, config.val_fraction, config.seed, config.leak_threshold, batch_rows=config.batch_rows,
                                workers=config.workers, log=context.log.info)
    context.log.info(f"split: {s.by_source}; {s.near_duplicate_pairs} near-duplicate pairs kept together; index {_mib(s.index_bytes)} MiB")
    rows = [[src, v.get("train", 0), v.get("val", 0)] for src, v in sorted(s.by_source.items())]
    return dg.MaterializeResult(
        metadata={"train": s.train, "val": s.val, "by_source": dg.MetadataValue.md(markdown.table(["source", "train", "val"], rows)),
                  "near_duplicate_pairs": s.near_duplicate_pairs, "split_index_mib": _mib(s.index_bytes)},
        check_results=[dg.AssetCheckResult(check_name="no_leakage", passed=not s.leaks,
                                        metadata={"leaks": len(s.leaks), "pairs": dg.MetadataValue.json(s.leaks[:50])})],
    )


class StatsConfig(BatchConfig):
    pass


@dg.asset(group_name=GROUP, deps=["corpus_splits"], automation_condition=EAGER,
       description="Corpus statistics: size, sources, lengths, top medical terms (data/stats/stats.md).")
def corpus_stats(context: dg.AssetExecutionContext, config: StatsConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as con:
        _limit(con, config)
        stats = tables.table_stats(con, "corpus_splits", batch_rows=config.batch_rows, workers=config.workers)
    md = stats_markdown(stats)
    png = stats_chart_png(stats)
    out = paths.stats_dir()
    (out / "stats.md").write_text(md)
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    (out / "by_source.png").write_bytes(png)
    context.log.info(f"corpus: {stats['documents']} documents, {stats['bytes'] / 1e6:.2f} MB, {stats['tokens']:,} tokens")
    return dg.MaterializeResult(
        metadata={
            "documents": stats["documents"],
            "bytes": stats["bytes"],
            "tokens": stats["tokens"],
            "avg_tokens_per_document": stats["avg_tokens_per_document"],
            "report": dg.MetadataValue.md(md + "\n" + markdown.png_markdown(png, "MB by source")),
            "path": dg.MetadataValue.path(str(out / "stats.md")),
        }
    )


jobs = [
    dg.define_asset_job(
        "scale_corpus",
        selection=dg.AssetSelection.assets("corpus", "corpus_duplicates", "corpus_splits", "corpus_stats", "tokenizer", "tokenized_corpus"),
        description="The corpus stages after clean_documents, for a large corpus: run with -c scripts/scale_run.yaml "
        "(worker processes, vocab 16384); benchmarks/scale_run.py times each stage.",
    )
]

sensors = [
    dg.AutomationConditionSensorDefinition(
        "corpus_refresh",
        target=[clean_documents, corpus, corpus_splits, corpus_stats],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes the corpus tables after a (scheduled) re-scrape of raw_documents.",
    )
]
