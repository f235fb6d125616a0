"""Text-quality gate on `clean_documents` (alslm_ml.processing.quality): per source, the share of
documents with parser damage (unbalanced brackets, "see and.", empty brackets, leftover markup,
mojibake, stubs), with examples; fails above `MAX_FLAGGED_SHARE` (docs/sources.md says why).

The check reads `alslm.clean_documents` through the DuckDB resource in batches instead of loading
the asset through the IO manager, so its memory stays bounded by one batch on a 1 GB corpus. It
reports and fails; it drops nothing.
"""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from alslm_ml.processing import store
from alslm_ml.processing.quality import MAX_FLAGGED_SHARE, QualityReport
from alslm_ml.processing.tables import corpus_batches
from alslm_ml.warehouse import SCHEMA

BATCH = 2000  # rows per fetch: a few MB of text at PMC article sizes


def max_flagged_share() -> float:
    """The threshold; ALSLM_QUALITY_MAX_SHARE overrides it (e.g. while a parser fix is pending)."""
    return float(os.environ.get("ALSLM_QUALITY_MAX_SHARE", MAX_FLAGGED_SHARE))


@dg.asset_check(
    asset="clean_documents",
    name="text_quality",
    description="Per source, the share of documents with parser damage (unbalanced brackets, dangling "
    "'see and.', empty brackets, leftover markup or escapes, mojibake, stubs) stays under the threshold.",
)
def text_quality(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    report = QualityReport()
    limit = max_flagged_share()
    with duckdb.get_connection() as con:
        if not store.exists(con, "clean_documents"):
            return dg.AssetCheckResult(
                passed=False, description=f"{SCHEMA}.clean_documents does not exist yet: materialize it first"
            )
        for frame in corpus_batches(con, "clean_documents", batch_rows=BATCH, columns=("id", "source", "text")):
            for doc_id, source, text in frame.itertuples(index=False):
                report.add(doc_id, source, text)
    per_source = report.as_dict()
    failing = report.failing(limit)
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"above {limit:.1%} flagged: {', '.join(failing)}"
            if failing
            else f"every source at or under {limit:.1%} flagged"
        ),
        metadata={
            "max_flagged_share": limit,
            "documents": sum(q["documents"] for q in per_source.values()),
            "flagged": sum(q["flagged"] for q in per_source.values()),
            "flagged_share_by_source": dg.MetadataValue.json({s: q["flagged_share"] for s, q in per_source.items()}),
            "failing_sources": dg.MetadataValue.json(failing),
            "by_source": dg.MetadataValue.json(per_source),
        },
    )
