"""Recall and latency of an index the lineage built (real embeddings, not the synthetic sets of
bench_retrieval.py): dense recall@10 against Qdrant's exact search at several search ef, search
latency per mode, and `Retriever.search` end to end (query embedding + hybrid search), for the
starter Q&A questions.

    ALSLM_DATA_DIR=/tmp/s100k .venv/bin/python benchmarks/bench_real_index.py   # data/qdrant of that run
    .venv/bin/python benchmarks/bench_real_index.py --root /tmp/s100k/qdrant --questions 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import load_qa, pct, recall_at_ef, retriever_latency  # noqa: E402

from alslm_ml.rag.retriever import Retriever  # noqa: E402


def exact_top(store, vector, k: int = 10) -> tuple[set, float]:
    """The exact (brute-force) dense top k of a query: ids and the k-th cosine."""
    qe = store.qe
    req = qe.QueryRequest(limit=k, query=qe.Query.Nearest([float(x) for x in vector], using="dense"),
                          with_payload=False, params=qe.SearchParams(exact=True))
    points = store.shard.query(req)
    return {p.id for p in points}, min(p.score for p in points)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="index root (default: the data dir's qdrant/)")
    ap.add_argument("--questions", type=int, default=200, help="starter Q&A questions to query")
    ap.add_argument("--passes", type=int, default=2, help="timed passes of Retriever.search (the first reads pages in)")
    args = ap.parse_args(argv)

    retriever = Retriever(root=args.root)
    store = retriever.store
    print(f"chunks {store.count():,}; index settings {store.meta.get('index_settings')}")
    questions = [x["question"] for x in load_qa(args.questions)]
    vectors = [retriever.embed_query(q) for q in questions]
    truth, kth = zip(*(exact_top(store, d) for d, _ in vectors))
    default_ef = store.hnsw_ef
    for ef in (64, 128, 256, 512):
        r = recall_at_ef(store, ef, [d for d, _ in vectors], truth, kth)
        print(f"search ef {ef}: dense recall@10 {r['recall@10']:.3f}, dense k=10 p50 {r['dense_k10_p50_ms']:.2f} ms, "
              f"10th cosine {r['cos_gap_10th']:.4f} below the exact 10th")
    store.hnsw_ef = default_ef
    for n in range(args.passes):
        lat = retriever_latency(retriever, questions)
        print(f"pass {n + 1}: Retriever.search (embedding + hybrid, k 5), {len(questions)} questions: "
              f"p50 {pct(lat, 50):.2f} ms p95 {pct(lat, 95):.2f} ms")
    for mode in ("hybrid", "dense", "sparse"):
        lat = []
        for d, s in vectors:
            t = time.perf_counter()
            store.search(d, s, k=5, mode=mode)
            lat.append(time.perf_counter() - t)
        print(f"search only, {mode}: p50 {pct(lat, 50):.2f} ms p95 {pct(lat, 95):.2f} ms")
    retriever.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
