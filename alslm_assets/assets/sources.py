"""Sources stage: `raw_documents`, one partition per source, plus its checks and schedules.

Scraped partitions spool each document to data/raw/<source>/ as it arrives and output every
spooled document of that source, so a re-scrape keeps earlier documents and the partition is
replaced atomically by the DuckDB IO manager (partition_expr = source). Malformed payloads land
in the `alslm.quarantine` table. `starter` is the offline embedded default shipped in the repo.

Downstream assets (clean_documents, ...) should carry `AutomationCondition.eager()` so a weekly
re-scrape refreshes the corpus without a manual run.
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from alslm_assets.metadata import as_metadata
from alslm_assets.partitions import source_partitions
from alslm_ml.sources import load_sources_config, make_client
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import PoliteClient
from alslm_ml.sources.ingest import ingest_partition, partition_checks, preview_rows, raw_metadata, write_quarantine


class RawDocumentsConfig(dg.Config):
    """Defaults: the caps and URLs in the shipped sources.yaml, spool under data/raw."""

    max_docs: int = Field(-1, description="documents written this run; -1 = the cap in sources.yaml, 0 = no cap")
    config_path: str = Field("", description="sources.yaml to use (empty = alslm_ml/sources/sources.yaml)")
    spool_dir: str = Field("", description="spool root (empty = data/raw)")
    starter_dir: str = Field("", description="starter docs folder (empty = alslm_ml/sources/starter/docs)")


class ScraperHttp(dg.ConfigurableResource):
    """Builds the polite HTTP client of a scrape (override `client` to replay recorded responses)."""

    def client(self, cfg: SourcesConfig) -> PoliteClient:
        return make_client(cfg)


resources = {"scraper_http": ScraperHttp()}


def _preview(df: pd.DataFrame) -> dg.MetadataValue:
    schema = dg.TableSchema(
        columns=[dg.TableColumn("id"), dg.TableColumn("title"), dg.TableColumn("license"), dg.TableColumn("chars", "int")]
    )
    return dg.MetadataValue.table([dg.TableRecord(r) for r in preview_rows(df)], schema=schema)


@dg.asset(
    partitions_def=source_partitions,
    group_name="sources",
    metadata={"partition_expr": "source"},
    kinds={"python", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec("non_empty_partition", asset="raw_documents", description="the partition has documents"),
        dg.AssetCheckSpec("unique_ids", asset="raw_documents", blocking=True, description="document ids are unique"),
        dg.AssetCheckSpec(
            "licence_allowlist",
            asset="raw_documents",
            blocking=True,
            description="every licence matches settings.licence_allowlist of sources.yaml",
        ),
    ],
)
def raw_documents(
    context: dg.AssetExecutionContext, config: RawDocumentsConfig, scraper_http: ScraperHttp, duckdb: DuckDBResource
):
    """Raw documents of one source in the RAW_COLUMNS schema (design doc 2.1-2.2)."""
    cfg = load_sources_config(config.config_path or None)
    part = ingest_partition(context.partition_key, cfg, lambda: scraper_http.client(cfg), config.starter_dir or None,
                            config.spool_dir or None, None if config.max_docs < 0 else config.max_docs)
    if part.report.quarantine:
        with duckdb.get_connection() as con:
            write_quarantine(con, part.report.quarantine)
    for line in part.warnings:
        context.log.warning(line)
    for line in part.log:
        context.log.info(line)
    yield dg.Output(part.frame, metadata={**as_metadata(raw_metadata(part)), "preview": _preview(part.frame)})
    for name, (passed, meta) in partition_checks(part, cfg).items():
        severity = {"severity": dg.AssetCheckSeverity.ERROR} if name == "non_empty_partition" else {}
        yield dg.AssetCheckResult(check_name=name, passed=passed, metadata=as_metadata(meta), **severity)


scrape_source_job = dg.define_asset_job(
    "scrape_source",
    selection=dg.AssetSelection.assets(raw_documents),
    description="Re-scrape one source partition of raw_documents (pick the partition).",
)

# Staggered weekdays so two scrapes never hold the single DuckDB writer at once.
WEEKLY = {"pubmed": 0, "clinicaltrials": 1, "educational": 2, "narratives": 3, "supplementary": 4}


def _weekly_schedule(source: str, weekday: int):
    @dg.schedule(
        name=f"weekly_scrape_{source}",
        cron_schedule=f"0 3 * * {weekday}",
        execution_timezone="UTC",
        job=scrape_source_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Weekly re-scrape of raw_documents[{source}] (stopped by default).",
    )
    def _s(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"{source}-{when}", partition_key=source, tags={"alslm/source": source})

    return _s


schedules = [_weekly_schedule(s, d) for s, d in WEEKLY.items()]
jobs = [scrape_source_job]
