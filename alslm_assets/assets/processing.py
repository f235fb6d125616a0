"""Processing stage: clean_documents (per source) -> corpus (+ corpus_duplicates) -> corpus_splits
-> corpus_stats. Tables live in DuckDB; each asset is a thin call into alslm_ml.processing.

After a scheduled re-scrape these assets refresh themselves (eager automation conditions,
evaluated by the `corpus_refresh` sensor)."""


import json
import re

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    Config,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from alslm_assets.partitions import source_partitions
from alslm_ml.documents import RAW_COLUMNS
from alslm_ml.paths import sub
from alslm_ml.processing import clean_documents as clean_docs
from alslm_ml.processing import corpus_stats as compute_stats
from alslm_ml.processing import dedup_documents, find_leakage, split_documents
from alslm_ml.processing.stats import png_markdown, stats_chart_png, stats_markdown

GROUP = "processing"
EAGER = AutomationCondition.eager()
CLEAN_COLUMNS = [*RAW_COLUMNS, "n_tokens"]


class CleanConfig(Config):
    min_tokens: int = 100  # documents shorter than this after cleaning are dropped (counted)


class DedupConfig(Config):
    threshold: float = 0.85  # MinHash Jaccard on word 5-grams
    num_perm: int = 128
    min_paragraph_words: int = 8  # shorter paragraphs (headings) are never paragraph-deduplicated
    min_tokens: int = 100  # a document paragraph dedup leaves shorter than this is removed (as in cleaning)
    max_removed_share: float = 0.5  # the dedup-ratio check warns above this share of documents removed
    licence_allowlist: str = r"^(cc[- ]?by(-nc)?(-sa)?(-nd)?([- ]\d\.\d)?|cc0([- ]1\.0)?|public[- ]domain.*|pd-usgov.*)$"


class SplitConfig(Config):
    val_fraction: float = 0.1
    seed: int = 42
    leak_threshold: float = 0.7


def _records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict(orient="records")


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    return "\n".join([head, rule, *("| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False))])


@asset(
    group_name=GROUP,
    partitions_def=source_partitions,
    metadata={"partition_expr": "source"},
    automation_condition=EAGER,
    check_specs=[AssetCheckSpec("non_empty", asset="clean_documents", description="the partition kept at least one document")],
    description="Per-source cleaned documents: markup, non-content sections, in-text citations and "
    "volatile sentences removed; NFC and whitespace normalized; documents under min_tokens dropped.",
)
def clean_documents(context: AssetExecutionContext, config: CleanConfig, raw_documents: pd.DataFrame):
    docs, report = clean_docs(_records(raw_documents), min_tokens=config.min_tokens)
    out = pd.DataFrame(docs, columns=CLEAN_COLUMNS)
    context.log.info(f"{context.partition_key}: kept {report.documents_out}/{report.documents_in} documents; removed {dict(report.removed)}")
    yield Output(
        out,
        metadata={
            **report.as_metadata(),
            "tokens": int(out["n_tokens"].sum()) if len(out) else 0,
            "dropped_short_ids": MetadataValue.json(report.dropped_short[:50]),
        },
    )
    yield AssetCheckResult(
        check_name="non_empty",
        passed=len(out) > 0,
        metadata={"documents": len(out), "raw_documents": report.documents_in},
    )


@multi_asset(
    group_name=GROUP,
    outs={
        "corpus": AssetOut(description="The deduplicated corpus: one row per kept document.", automation_condition=EAGER),
        "corpus_duplicates": AssetOut(description="Provenance of every removal: what was dropped as a duplicate of what.", automation_condition=EAGER),
    },
    check_specs=[
        AssetCheckSpec("unique_ids", asset="corpus", description="document ids are unique"),
        AssetCheckSpec("licence_allowlist", asset="corpus", description="every licence is on the allowlist"),
        AssetCheckSpec("dedup_ratio", asset="corpus", description="deduplication removed a plausible share of documents"),
    ],
)
def corpus(context: AssetExecutionContext, config: DedupConfig, clean_documents: pd.DataFrame):
    """MinHash LSH document dedup + SHA-256 paragraph dedup over all sources."""
    docs = _records(clean_documents)
    result = dedup_documents(docs, config.threshold, config.num_perm, config.min_paragraph_words, config.min_tokens)
    kept = pd.DataFrame(result.documents, columns=CLEAN_COLUMNS)
    dups = pd.DataFrame(result.duplicates, columns=["kind", "removed_id", "kept_id", "similarity", "paragraph"])
    share = result.removed_documents / max(1, len(docs))
    context.log.info(f"dedup: {len(docs)} documents in, {len(kept)} kept; {result.removed_documents} near-duplicate documents, {result.removed_paragraphs} repeated paragraphs and {result.removed_residues} documents left too short by them removed")
    yield Output(
        kept,
        output_name="corpus",
        metadata={
            "documents": len(kept),
            "documents_in": len(docs),
            "tokens": int(kept["n_tokens"].sum()) if len(kept) else 0,
            "bytes": int(kept["text"].str.len().sum()) if len(kept) else 0,
            "removed_documents": result.removed_documents,
            "removed_paragraphs": result.removed_paragraphs,
            "removed_residue_documents": result.removed_residues,
            "by_source": MetadataValue.json(kept["source"].value_counts().to_dict()),
        },
    )
    yield Output(dups, output_name="corpus_duplicates", metadata={"rows": len(dups)})

    dup_ids = kept["id"][kept["id"].duplicated()].tolist()
    yield AssetCheckResult(check_name="unique_ids", asset_key="corpus", passed=not dup_ids, metadata={"duplicate_ids": MetadataValue.json(dup_ids[:50])})
    allowed = re.compile(config.licence_allowlist, re.IGNORECASE)
    bad = kept.loc[~kept["license"].fillna("").str.strip().map(lambda s: bool(allowed.match(s))), ["id", "license"]]
    yield AssetCheckResult(
        check_name="licence_allowlist",
        asset_key="corpus",
        passed=bad.empty,
        metadata={"violations": len(bad), "examples": MetadataValue.json(bad.head(20).to_dict(orient="records"))},
    )
    yield AssetCheckResult(
        check_name="dedup_ratio",
        asset_key="corpus",
        passed=share <= config.max_removed_share,
        severity=AssetCheckSeverity.WARN,
        metadata={"removed_share": round(share, 4), "max_removed_share": config.max_removed_share},
    )


@asset(
    group_name=GROUP,
    automation_condition=EAGER,
    check_specs=[AssetCheckSpec("no_leakage", asset="corpus_splits", blocking=True, description="no val document is a near-duplicate (MinHash Jaccard >= 0.7) of a train document")],
    description="90/10 document-level split, stratified by source, seeded; near-duplicate groups stay in one split.",
)
def corpus_splits(context: AssetExecutionContext, config: SplitConfig, corpus: pd.DataFrame):
    docs = split_documents(_records(corpus), config.val_fraction, config.seed, config.leak_threshold)
    df = pd.DataFrame(docs, columns=[*CLEAN_COLUMNS, "split"])
    counts = df.groupby(["source", "split"]).size().unstack(fill_value=0)
    context.log.info(f"split: {counts.to_dict()}")
    yield Output(df, metadata={"train": int((df["split"] == "train").sum()), "val": int((df["split"] == "val").sum()), "by_source": MetadataValue.md(_md_table(counts.reset_index()))})
    leaks = find_leakage(docs, config.leak_threshold)
    yield AssetCheckResult(check_name="no_leakage", passed=not leaks, metadata={"leaks": len(leaks), "pairs": MetadataValue.json(leaks[:50])})


@asset(group_name=GROUP, automation_condition=EAGER, description="Corpus statistics: size, sources, lengths, top medical terms (data/stats/stats.md).")
def corpus_stats(context: AssetExecutionContext, corpus_splits: pd.DataFrame) -> MaterializeResult:
    stats = compute_stats(corpus_splits)
    md = stats_markdown(stats)
    png = stats_chart_png(stats)
    out = sub("stats")
    (out / "stats.md").write_text(md)
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    (out / "by_source.png").write_bytes(png)
    context.log.info(f"corpus: {stats['documents']} documents, {stats['bytes'] / 1e6:.2f} MB, {stats['tokens']:,} tokens")
    return MaterializeResult(
        metadata={
            "documents": stats["documents"],
            "bytes": stats["bytes"],
            "tokens": stats["tokens"],
            "avg_tokens_per_document": stats["avg_tokens_per_document"],
            "report": MetadataValue.md(md + "\n" + png_markdown(png, "MB by source")),
            "path": MetadataValue.path(str(out / "stats.md")),
        }
    )


sensors = [
    AutomationConditionSensorDefinition(
        "corpus_refresh",
        target=[clean_documents, corpus, corpus_splits, corpus_stats],
        default_status=DefaultSensorStatus.RUNNING,
        description="Refreshes the corpus tables after a (scheduled) re-scrape of raw_documents.",
    )
]
