"""Sources stage: `raw_documents`, one partition per source, plus its checks and schedules.

Scraped partitions spool each document to data/raw/<source>/ as it arrives and output every
spooled document of that source, so a re-scrape keeps earlier documents and the partition is
replaced atomically by the DuckDB IO manager (partition_expr = source). Malformed payloads land
in the `alslm.quarantine` table. `starter` is the offline embedded default shipped in the repo.

Downstream assets (clean_documents, ...) should carry `AutomationCondition.eager()` so a weekly
re-scrape refreshes the corpus without a manual run.
"""

import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSelection,
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    MetadataValue,
    Output,
    RunRequest,
    ScheduleEvaluationContext,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    define_asset_job,
    schedule,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from alslm_assets.partitions import source_partitions
from alslm_assets.resources import SCHEMA
from alslm_ml.documents import to_frame
from alslm_ml.sources import load_sources_config, load_starter, make_client, scrape_source
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import PoliteClient
from alslm_ml.sources.spool import ScrapeReport

CHECKS = ("non_empty_partition", "unique_ids", "licence_allowlist")


class RawDocumentsConfig(Config):
    """Defaults: the caps and URLs in the shipped sources.yaml, spool under data/raw."""

    max_docs: int = Field(-1, description="documents written this run; -1 = the cap in sources.yaml, 0 = no cap")
    config_path: str = Field("", description="sources.yaml to use (empty = alslm_ml/sources/sources.yaml)")
    spool_dir: str = Field("", description="spool root (empty = data/raw)")
    starter_dir: str = Field("", description="starter docs folder (empty = alslm_ml/sources/starter/docs)")


class ScraperHttp(ConfigurableResource):
    """Builds the polite HTTP client of a scrape (override `client` to replay recorded responses)."""

    def client(self, cfg: SourcesConfig) -> PoliteClient:
        return make_client(cfg)


resources = {"scraper_http": ScraperHttp()}


def write_quarantine(duckdb: DuckDBResource, rows: list[dict]) -> None:
    """Append quarantined items to alslm.quarantine (source, item_id, reason, excerpt, time)."""
    if not rows:
        return
    with duckdb.get_connection() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.quarantine "
            "(source VARCHAR, item_id VARCHAR, reason VARCHAR, excerpt VARCHAR, time TIMESTAMPTZ)"
        )
        con.executemany(
            f"INSERT INTO {SCHEMA}.quarantine VALUES (?, ?, ?, ?, ?::TIMESTAMPTZ)",
            [[r["source"], r["item_id"], r["reason"], r["excerpt"], r["time"]] for r in rows],
        )


def _preview(df: pd.DataFrame, n: int = 10) -> MetadataValue:
    schema = TableSchema(
        columns=[TableColumn("id"), TableColumn("title"), TableColumn("license"), TableColumn("chars", "int")]
    )
    records = [
        TableRecord({"id": r.id, "title": r.title[:80], "license": r.license, "chars": len(r.text)})
        for r in df.head(n).itertuples()
    ]
    return MetadataValue.table(records, schema=schema)


@asset(
    partitions_def=source_partitions,
    group_name="sources",
    metadata={"partition_expr": "source"},
    kinds={"python", "duckdb"},
    check_specs=[
        AssetCheckSpec("non_empty_partition", asset="raw_documents", description="the partition has documents"),
        AssetCheckSpec("unique_ids", asset="raw_documents", blocking=True, description="document ids are unique"),
        AssetCheckSpec(
            "licence_allowlist",
            asset="raw_documents",
            blocking=True,
            description="every licence matches settings.licence_allowlist of sources.yaml",
        ),
    ],
)
def raw_documents(
    context: AssetExecutionContext, config: RawDocumentsConfig, scraper_http: ScraperHttp, duckdb: DuckDBResource
):
    """Raw documents of one source in the RAW_COLUMNS schema (design doc 2.1-2.2)."""
    source = context.partition_key
    cfg = load_sources_config(config.config_path or None)
    if source == "starter":
        docs = load_starter(config.starter_dir or None)
        report = ScrapeReport("starter", written=len(docs), bytes=sum(len(d.text.encode()) for d in docs))
        context.log.info(f"starter: loaded {len(docs)} documents from the shipped corpus")
    else:
        max_docs = None if config.max_docs < 0 else config.max_docs
        client = scraper_http.client(cfg)
        try:
            report, docs = scrape_source(
                source, cfg, out=config.spool_dir or None, max_docs=max_docs, client=client, progress=False
            )
        finally:
            client.close()
        write_quarantine(duckdb, report.quarantine)
        for row in report.quarantine[:20]:
            context.log.warning(f"quarantined {row['item_id']}: {row['reason']}")
        context.log.info(
            f"{source}: wrote {report.written}, skipped {report.skipped} already fetched, "
            f"quarantined {report.quarantined}, licence-filtered {report.licence_filtered}; "
            f"{len(docs)} documents in the partition ({client.requests} requests, {client.waited:.1f}s waited)"
        )
    df = to_frame(docs)
    total_bytes = int(df["text"].str.encode("utf-8").str.len().sum()) if len(df) else 0
    yield Output(
        df,
        metadata={
            "documents": len(df),
            "written": report.written,
            "skipped_already_fetched": report.skipped,
            "quarantined": report.quarantined,
            "licence_filtered": report.licence_filtered,
            "licence_filtered_by": MetadataValue.json(dict(report.licence_filtered_by)),
            "robots_blocked": report.robots_blocked,
            "pii_removed": MetadataValue.json(dict(report.pii)),
            "capped": report.capped,
            "bytes_written": report.bytes,
            "bytes": total_bytes,
            "preview": _preview(df),
        },
    )
    dupes = sorted(df["id"][df["id"].duplicated()].unique()) if len(df) else []
    bad = [(d.id, d.license) for d in docs if not cfg.licence_ok(source, d.license)]
    yield AssetCheckResult(
        check_name="non_empty_partition",
        passed=len(df) > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"documents": len(df)},
    )
    yield AssetCheckResult(
        check_name="unique_ids",
        passed=not dupes,
        metadata={"duplicates": len(dupes), "examples": MetadataValue.json(dupes[:10])},
    )
    yield AssetCheckResult(
        check_name="licence_allowlist",
        passed=not bad,
        metadata={
            "violations": len(bad),
            "examples": MetadataValue.json(bad[:10]),
            "allowlist": MetadataValue.json(cfg.settings.licence_allowlist.get(source, [])),
        },
    )


scrape_source_job = define_asset_job(
    "scrape_source",
    selection=AssetSelection.assets(raw_documents),
    description="Re-scrape one source partition of raw_documents (pick the partition).",
)

# Staggered weekdays so two scrapes never hold the single DuckDB writer at once.
WEEKLY = {"pubmed": 0, "clinicaltrials": 1, "educational": 2, "narratives": 3, "supplementary": 4}


def _weekly_schedule(source: str, weekday: int):
    @schedule(
        name=f"weekly_scrape_{source}",
        cron_schedule=f"0 3 * * {weekday}",
        execution_timezone="UTC",
        job=scrape_source_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Weekly re-scrape of raw_documents[{source}] (stopped by default).",
    )
    def _s(context: ScheduleEvaluationContext) -> RunRequest:
        when = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return RunRequest(run_key=f"{source}-{when}", partition_key=source, tags={"alslm/source": source})

    return _s


schedules = [_weekly_schedule(s, d) for s, d in WEEKLY.items()]
jobs = [scrape_source_job]

__all__ = [
    "raw_documents",
    "schedules",
    "jobs",
    "resources",
    "RawDocumentsConfig",
    "ScraperHttp",
    "write_quarantine",
    "CHECKS",
    "json",
]
