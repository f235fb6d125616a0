"""One partition of `raw_documents`: load (starter) or scrape one source, and say what happened.

The asset is a thin call: `ingest_partition` returns the frame, the run's report and the log
lines; `raw_metadata` and `partition_checks` turn them into plain dicts the asset wraps in Dagster
metadata. Quarantined items go to the `alslm.quarantine` table through `write_quarantine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alslm_ml.documents import Document, to_frame
from alslm_ml.sources import scrape_source
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import PoliteClient
from alslm_ml.sources.spool import ScrapeReport
from alslm_ml.sources.starter import load_starter
from alslm_ml.warehouse import SCHEMA

QUARANTINE_DDL = (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.quarantine "
                  "(source VARCHAR, item_id VARCHAR, reason VARCHAR, excerpt VARCHAR, time TIMESTAMPTZ)")


@dataclass
class Partition:
    """What one materialization of a raw_documents partition produced."""

    source: str
    docs: list[Document]
    report: ScrapeReport
    frame: pd.DataFrame = field(init=False)
    log: list[str] = field(default_factory=list)  # info lines for the run log
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.frame = to_frame(self.docs)


def ingest_partition(source: str, cfg: SourcesConfig, client_factory: Callable[[], PoliteClient],
                     starter_dir: str | Path | None = None, spool_dir: str | Path | None = None,
                     max_docs: int | None = None) -> Partition:
    """The documents of one source: the shipped starter corpus, or every spooled document after a
    scrape (max_docs: None = the cap in sources.yaml, 0 = no cap). The client is made only for a
    scrape and always closed."""
    if source == "starter":
        docs = load_starter(starter_dir)
        report = ScrapeReport("starter", written=len(docs), bytes=sum(len(d.text.encode()) for d in docs))
        return Partition(source, docs, report, log=[f"starter: loaded {len(docs)} documents from the shipped corpus"])
    client = client_factory()
    try:
        report, docs = scrape_source(source, cfg, out=spool_dir, max_docs=max_docs, client=client, progress=False)
    finally:
        client.close()
    part = Partition(source, docs, report)
    part.warnings = [f"quarantined {row['item_id']}: {row['reason']}" for row in report.quarantine[:20]]
    part.log.append(
        f"{source}: wrote {report.written}, skipped {report.skipped} already fetched, "
        f"quarantined {report.quarantined}, licence-filtered {report.licence_filtered}; "
        f"{len(docs)} documents in the partition ({client.requests} requests, {client.waited:.1f}s waited)"
    )
    return part


def write_quarantine(con, rows: list[dict]) -> None:
    """Append quarantined items to alslm.quarantine (source, item_id, reason, excerpt, time)."""
    if not rows:
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(QUARANTINE_DDL)
    con.executemany(
        f"INSERT INTO {SCHEMA}.quarantine VALUES (?, ?, ?, ?, ?::TIMESTAMPTZ)",
        [[r["source"], r["item_id"], r["reason"], r["excerpt"], r["time"]] for r in rows],
    )


def raw_metadata(part: Partition) -> dict:
    """The partition's counts; dict-valued entries are JSON metadata."""
    df, report = part.frame, part.report
    return {
        "documents": len(df),
        "written": report.written,
        "skipped_already_fetched": report.skipped,
        "quarantined": report.quarantined,
        "licence_filtered": report.licence_filtered,
        "licence_filtered_by": dict(report.licence_filtered_by),
        "robots_blocked": report.robots_blocked,
        "pii_removed": dict(report.pii),
        "capped": report.capped,
        "bytes_written": report.bytes,
        "bytes": int(df["text"].str.encode("utf-8").str.len().sum()) if len(df) else 0,
    }


def preview_rows(frame: pd.DataFrame, n: int = 10) -> list[dict]:
    """The first n documents as short rows (id, title, license, chars) for a preview table."""
    return [{"id": r.id, "title": r.title[:80], "license": r.license, "chars": len(r.text)} for r in frame.head(n).itertuples()]


def partition_checks(part: Partition, cfg: SourcesConfig) -> dict[str, tuple[bool, dict]]:
    """check name -> (passed, metadata) for non_empty_partition, unique_ids and licence_allowlist
    (the allow-list of sources.yaml: the one licence rule)."""
    df = part.frame
    dupes = sorted(df["id"][df["id"].duplicated()].unique()) if len(df) else []
    bad = [(d.id, d.license) for d in part.docs if not cfg.licence_ok(part.source, d.license)]
    return {
        "non_empty_partition": (len(df) > 0, {"documents": len(df)}),
        "unique_ids": (not dupes, {"duplicates": len(dupes), "examples": dupes[:10]}),
        "licence_allowlist": (not bad, {"violations": len(bad), "examples": bad[:10],
                                        "allowlist": cfg.settings.licence_allowlist.get(part.source, [])}),
    }
