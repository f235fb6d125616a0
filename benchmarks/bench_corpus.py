"""Corpus processing benchmark: build a ~100 MB corpus from the starter documents (sentence
remixes, so documents are distinct) with planted near-duplicates, then run clean + dedup + split
and print docs/s, MB/s, peak RSS and the recall of the planted duplicates.

    .venv/bin/python benchmarks/bench_corpus.py --mb 100
Goal (issue 2): 100 MB in <= 10 minutes on 2 cores, <= 4 GiB, planted-duplicate recall >= 0.95.
"""

import argparse
import random
import re
import resource
import time

from alslm_ml.processing import clean_documents, dedup_documents, find_leakage, split_documents
from alslm_ml.sources.starter import load_starter

SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentence_pool() -> list[str]:
    pool = []
    for doc in load_starter():
        for para in doc.text.split("\n\n"):
            if not para.startswith("#"):
                pool += [s.strip() for s in SENT.split(para) if len(s.split()) >= 6]
    if len(pool) < 200:
        raise SystemExit(f"only {len(pool)} sentences in the starter corpus: it is missing")
    return pool


def perturb(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * rate))):
        words[i] = words[rng.randrange(len(words))]
    return " ".join(words)


def build(mb: float, dup_rate: float, seed: int = 0):
    rng = random.Random(seed)
    pool = sentence_pool()
    docs, planted, size, i = [], {}, 0, 0
    sources = ["pubmed", "clinicaltrials", "educational", "narratives", "supplementary"]
    while size < mb * 1e6:
        sents = rng.sample(pool, rng.randint(20, 50))
        paras = [f"# Section {i}"] + [" ".join(sents[j : j + 5]) for j in range(0, len(sents), 5)]
        doc = {"id": f"bench:{i:07d}", "source": rng.choice(sources), "text": "\n\n".join(paras), "license": "CC-BY-4.0"}
        docs.append(doc)
        size += len(doc["text"])
        i += 1
        if rng.random() < dup_rate:  # a near-duplicate: 1% of words changed, given a later id
            dup = {**doc, "id": f"bench:{i:07d}dup", "text": perturb(doc["text"], rng, 0.01)}
            planted[dup["id"]] = doc["id"]
            docs.append(dup)
            size += len(dup["text"])
    rng.shuffle(docs)
    return docs, planted, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--dup-rate", type=float, default=0.05)
    args = ap.parse_args()

    t0 = time.perf_counter()
    docs, planted, size = build(args.mb, args.dup_rate)
    print(f"built {len(docs):,} documents, {size / 1e6:.1f} MB, {len(planted):,} planted near-duplicates in {time.perf_counter() - t0:.1f}s")

    timings = {}
    t = time.perf_counter()
    cleaned, report = clean_documents(docs, min_tokens=100)
    timings["clean"] = time.perf_counter() - t
    t = time.perf_counter()
    result = dedup_documents(cleaned, min_tokens=100)  # as the corpus asset runs it
    timings["dedup"] = time.perf_counter() - t
    t = time.perf_counter()
    split = split_documents(result.documents)
    timings["split"] = time.perf_counter() - t
    t = time.perf_counter()
    leaks = find_leakage(split)
    timings["leakage_check"] = time.perf_counter() - t

    removed = {d["removed_id"]: d["kept_id"] for d in result.duplicates if d["kind"] == "document"}
    caught = sum(1 for dup, orig in planted.items() if removed.get(dup) == orig)
    false_pos = sum(1 for rid in removed if rid not in planted)
    total = sum(timings.values())
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"clean: kept {report.documents_out:,}/{report.documents_in:,}; removed {dict(report.removed)}")
    for k, v in timings.items():
        print(f"  {k:<14} {v:8.1f} s  {len(docs) / v:10,.0f} docs/s  {size / 1e6 / v:7.2f} MB/s")
    print(f"total          {total:8.1f} s  {len(docs) / total:10,.0f} docs/s  {size / 1e6 / total:7.2f} MB/s")
    print(f"peak RSS       {rss_gib:8.2f} GiB")
    print(f"paragraphs removed: {result.removed_paragraphs:,}; documents left too short by them (residues): {result.removed_residues:,}")
    print(f"planted-duplicate recall {caught / max(1, len(planted)):.4f} ({caught}/{len(planted)}); other documents removed as duplicates: {false_pos}")
    print(f"split: {sum(d['split'] == 'val' for d in split):,} val / {sum(d['split'] == 'train' for d in split):,} train; leakage pairs: {len(leaks)}")


if __name__ == "__main__":
    main()
