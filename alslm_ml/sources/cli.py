"""`alslm scrape --source pubmed [--max-docs N] [--out DIR]`: one scraper, outside Dagster."""

from __future__ import annotations

import argparse
import json
import sys

from alslm_ml.sources.config import SCRAPED, ConfigError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="alslm scrape",
        description="Run one source's scraper outside Dagster (or load the starter corpus) and print counts.",
    )
    ap.add_argument("--source", required=True, choices=[*SCRAPED, "starter"])
    ap.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="documents to write this run (default: the cap in sources.yaml; 0 = no cap)",
    )
    ap.add_argument(
        "--out", default=None, help="spool root (default: data/raw); documents go to OUT/<source>/<id>.json"
    )
    ap.add_argument("--config", default=None, help="sources.yaml to use (default: the one shipped in alslm_ml/sources)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)

    from alslm_ml.sources import load_sources_config, load_starter, scrape_source
    from alslm_ml.sources.starter import StarterError

    try:
        if args.source == "starter":
            docs = load_starter()
            summary = {"source": "starter", "documents": len(docs), "bytes": sum(len(d.text.encode()) for d in docs)}
        else:
            report, docs = scrape_source(args.source, load_sources_config(args.config), out=args.out, max_docs=args.max_docs)
            summary = {**report.summary(), "documents_total": len(docs)}
    except (ConfigError, StarterError) as exc:
        print(f"alslm scrape: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        for key, value in summary.items():
            if value or value == 0:
                print(f"{key:>20}: {value}")
    return 0
