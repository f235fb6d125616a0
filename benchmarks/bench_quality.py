"""Text-quality gate figures: parse every recorded payload (tests/fixtures/sources and, when it
is checked out, ../shared/reference-payloads), clean it as clean_documents does, and print per
source the documents, the records refused, the documents flagged and by which check; then the
starter corpus; then the gate's throughput on a ~N MB remix of the starter corpus.

    .venv/bin/python benchmarks/bench_quality.py --mb 20
Fixture documents are short test records, so the length check is off for them (--min-chars 0);
the starter corpus is gated as the asset check gates it.
"""

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from alslm_ml.processing import clean_documents
from alslm_ml.processing.quality import QualityReport, quality_report
from alslm_ml.sources.starter import load_starter

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "sources"
REF = ROOT.parent / "shared" / "reference-payloads"


def fixture_documents() -> tuple[list[dict], dict[str, int]]:
    from alslm_ml.sources.clinicaltrials import study_document
    from alslm_ml.sources.jats import parse_article, parse_articleset
    from alslm_ml.sources.pubmed import article_documents

    docs, refused = [], {"pubmed": 0, "clinicaltrials": 0}
    for path in [*sorted(FIX.glob("efetch_*.xml")), *sorted(REF.glob("*.nxml"))]:
        try:
            docs += [asdict(d) for el in parse_articleset(path.read_bytes()) for d in article_documents(parse_article(el), "2026-11-27")]
        except Exception:  # noqa: BLE001 - an error document: counted, not gated
            refused["pubmed"] += 1
    for path in [*sorted(FIX.glob("ctgov_*.json")), *sorted(REF.glob("ctgov_*.json"))]:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        studies = data.get("studies", [data]) if isinstance(data, dict) else []
        for s in studies:
            try:
                docs.append(asdict(study_document(s, "2026-11-27")))
            except Exception:  # noqa: BLE001 - old parsers raise AttributeError/TypeError here
                refused["clinicaltrials"] += 1
    return docs, refused


def show(title: str, report: QualityReport) -> None:
    print(title)
    for source, q in report.as_dict().items():
        print(f"  {source}: {q['flagged']}/{q['documents']} flagged ({q['flagged_share']:.1%}) {q['by_check']}")
        for e in q["examples"][:3]:
            print(f"    {e['id']} {e['check']}: {e['excerpt']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=20, help="size of the throughput corpus")
    args = ap.parse_args()

    docs, refused = fixture_documents()
    print(f"records refused by the parsers (quarantined): {refused}")
    show("fixtures, parser output:", quality_report(docs, min_chars=0))
    kept, _ = clean_documents(docs, min_tokens=0)
    show("fixtures, after clean_documents:", quality_report(kept, min_chars=0))

    starter = [asdict(d) for d in load_starter()]
    kept, _ = clean_documents(starter)
    show("starter corpus, after clean_documents (min_tokens=100):", quality_report(kept))

    texts, size = [], 0
    while size < args.mb * 1e6:
        for d in kept:
            texts.append(d["text"])
            size += len(d["text"].encode())
    t = time.perf_counter()
    r = QualityReport()
    for i, text in enumerate(texts):
        r.add(str(i), "starter", text)
    dt = time.perf_counter() - t
    print(f"throughput: {len(texts)} documents, {size / 1e6:.1f} MB in {dt:.1f} s = {size / 1e6 / dt:.1f} MB/s")


if __name__ == "__main__":
    main()
