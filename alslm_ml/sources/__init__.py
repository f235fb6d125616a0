"""Sources stage: scrapers for each corpus source and the starter-corpus loader.

`scrape_source("pubmed")` runs one scraper: documents are spooled to data/raw/<source>/ as they
arrive (a killed run resumes), malformed payloads are quarantined, and the return value is the
run's report plus every spooled document of that source (the partition's content).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from tqdm import tqdm

from alslm_ml import paths
from alslm_ml.documents import Document
from alslm_ml.sources import clinicaltrials, pubmed, web
from alslm_ml.sources.config import SCRAPED, SourcesConfig, load_sources_config
from alslm_ml.sources.http import PoliteClient
from alslm_ml.sources.spool import QUARANTINE_COLUMNS, Run, ScrapeReport, Spool
from alslm_ml.sources.starter import load_starter

SCRAPERS = {
    "pubmed": pubmed.scrape,
    "clinicaltrials": clinicaltrials.scrape,
    "educational": web.scrape,
    "narratives": web.scrape,
    "supplementary": web.scrape,
}

__all__ = [
    "SCRAPERS",
    "QUARANTINE_COLUMNS",
    "ScrapeReport",
    "load_sources_config",
    "load_starter",
    "make_client",
    "raw_dir",
    "scrape_source",
]


def raw_dir() -> Path:
    return paths.raw_dir()


def make_client(
    cfg: SourcesConfig,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> PoliteClient:
    """The polite client for a config: its allowlist, User-Agent, rates and retry policy."""
    s = cfg.settings
    host_rates = dict(s.host_rates)
    host_rates[urlsplit(cfg.pubmed["base_url"]).hostname] = cfg.ncbi_rate()
    kwargs = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
    return PoliteClient(
        cfg.allowed_hosts(),
        s.user_agent,
        rate=s.rate_per_host,
        host_rates=host_rates,
        max_tries=s.max_tries,
        backoff=s.backoff_s,
        timeout=s.timeout_s,
        max_bytes=int(s.max_response_mb * 1024 * 1024),
        deadline=s.deadline_s,
        transport=transport,
        **kwargs,
    )


def scrape_source(
    source: str,
    cfg: SourcesConfig | None = None,
    out: str | Path | None = None,
    max_docs: int | None = None,
    client: PoliteClient | None = None,
    today: str | None = None,
    progress: bool = True,
) -> tuple[ScrapeReport, list[Document]]:
    """Run one source's scraper into out/<source>/ (default data/raw/); returns (report, all docs).

    max_docs: documents written this run (None = the config's cap, 0 = no cap).
    """
    if source not in SCRAPERS:
        raise ValueError(
            f"unknown scraped source {source!r}: expected one of {SCRAPED} ('starter' is loaded, not scraped)"
        )
    cfg = cfg or load_sources_config()
    spool = Spool(out or raw_dir(), source)
    cap = cfg.cap(source) if max_docs is None else max_docs
    own_client = client is None
    client = client or make_client(cfg)
    bar = tqdm(desc=f"scrape {source}", unit="doc", total=cap or None, disable=not progress)
    run = Run(spool, max_docs=cap, today=today, progress=bar)
    try:
        SCRAPERS[source](client, cfg, run)
    finally:
        bar.close()
        if own_client:
            client.close()
    return run.report, spool.documents()
