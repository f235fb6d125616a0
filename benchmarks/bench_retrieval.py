"""Retrieval benchmark: index build speed, hybrid/dense query latency at 50K-1M chunks side by
side with Chroma, peak RSS, end-to-end answer time, and retrieval/answer quality on the starter Q&A.

    .venv/bin/python benchmarks/bench_retrieval.py                 # everything (~15 min on 2 busy cores)
    .venv/bin/python benchmarks/bench_retrieval.py --parts latency # only the 50K-chunk latency part
    .venv/bin/python benchmarks/bench_retrieval.py --parts latency,chroma --chunks 1000000  # the scale run
    .venv/bin/python benchmarks/bench_retrieval.py --parts settings --settings-chunks 100000  # index settings side by side

`--pool FILE.npy` keeps the starter chunk vectors of the first run and reuses them when only
latency/chroma/settings run (skips re-embedding the corpus, ~3 min on busy cores).

Parts:
- build: chunk the starter corpus (alslm_ml/sources/starter/docs; any folder of .md/.txt with
  --docs) and embed it for real (MiniLM ONNX + BM25) into a Qdrant edge shard: chunks/s.
- latency: a ~50K-chunk shard. Embedding 50K x 256-token chunks takes hours on 2 CPU cores, so the
  synthetic chunks reuse the real chunk vectors with small Gaussian noise (re-normalized) and get
  real BM25 vectors of synthetic texts (random mixes of corpus sentences). Query vectors are real
  embeddings of real questions. Reports ingest+HNSW chunks/s (upsert / optimize seconds), query
  p50/p95 for hybrid, dense and sparse (search only), one question at a time per stage (tokenize /
  dense model / BM25 / hybrid search, p50/p95), peak RSS and its growth per million chunks, and
  dense recall@10 against exact numpy search at several search ef values.
- chroma (with latency): the same dense vectors (spooled to a .npy) and query vectors into a
  Chroma PersistentClient collection (cosine HNSW, batches of 5,000), in a child process so its
  RSS is its own: build chunks/s, dense p50/p95, recall@10 (same exact truth), peak RSS. Needs
  `pip install chromadb` (the `bench` extra), or `--chroma-path DIR` for a `pip install --target
  DIR` copy kept out of the venv; skipped with a note when it is missing.
- settings: IndexSettings variants (SETTINGS_VARIANTS; `--variants "a;b"`) built from the same
  synthetic records held in memory: build chunks/s with upsert / optimize seconds, recall@10 and
  dense p50 by search ef, per-mode search p50.
- quality: gold-document hit rate @k for hybrid/dense/sparse on the starter Q&A questions
  (add `oldsettings` to also score the same chunks indexed with Qdrant's default HNSW settings).
- compare: qdrant-edge vs qdrant-client's pure-Python local mode on the same 10K random records
  (`--parts compare` runs only this).
- answer: end-to-end answers (retrieve + SmolLM2 up to 128 tokens, greedy) for the answer modes
  auto/generate/extractive: seconds, prompt tokens, ROUGE-L against the reference answer and the
  share of answer sentences supported by the retrieved text.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402


def load_docs(folder: Path) -> pd.DataFrame:
    rows = []
    for f in sorted(glob.glob(str(folder / "**" / "*.md"), recursive=True)) + sorted(glob.glob(str(folder / "**" / "*.txt"), recursive=True)):
        text = Path(f).read_text()
        meta = {}
        if text.startswith("---"):
            _, fm, text = text.split("---", 2)
            meta = yaml.safe_load(fm) or {}
        rows.append({"id": meta.get("id", Path(f).stem), "source": "starter", "url": f"file://{f}",
                     "title": meta.get("title", Path(f).stem), "text": text.strip(), "license": meta.get("license", "")})
    if not rows:
        raise SystemExit(f"no .md/.txt documents under {folder}")
    return pd.DataFrame(rows)


def load_qa(limit: int) -> list[dict]:
    qa = []
    for f in sorted(glob.glob(str(REPO / "alslm_ml" / "finetune" / "data" / "qa_starter_*.jsonl"))):
        qa += [json.loads(x) for x in Path(f).read_text().splitlines() if x.strip()]
    random.Random(0).shuffle(qa)
    return qa[:limit]


def pct(xs, p):
    return float(np.percentile(np.array(xs) * 1000, p))


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith(field + ":")) / 1024
    except (OSError, StopIteration):
        return None


def peak_rss_mb() -> float:
    """VmHWM where there is /proc (ru_maxrss survives exec, so a spawned child would report its
    parent's peak), else ru_maxrss."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    return _status_mb("VmRSS") or 0.0


def reset_peak_rss() -> None:
    """Start VmHWM over from the current RSS (Linux >= 4.0), so a phase's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def part_build(docs, args, out):
    from alslm_ml.rag import embed
    from alslm_ml.rag.build import embed_chunks
    from alslm_ml.rag.chunking import chunk_documents
    from alslm_ml.rag.index import build_edge

    dense, sparse = embed.dense_embedder(args.dense_model, threads=args.threads), embed.sparse_embedder()
    tok = embed.token_counter()
    res = {}
    for ct, ov in [(256, 32), (512, 64)] if "chunks512" in args.parts else [(256, 32)]:
        chunks = list(chunk_documents(docs, tok, ct, ov))
        t0 = time.perf_counter()
        batches = list(embed_chunks(chunks, dense, sparse, 32, progress=False))
        t_embed = time.perf_counter() - t0
        root = Path(tempfile.mkdtemp(prefix="bench_rag_"))
        t1 = time.perf_counter()
        build_edge(iter(batches), 384, {"chunk_tokens": ct, "overlap": ov, "dense_model": args.dense_model,
                                        "bm25_path": str(embed.build_bm25_dir())}, root=root)
        t_index = time.perf_counter() - t1
        res[f"{ct}/{ov}"] = {"docs": len(docs), "chunks": len(chunks), "embed_chunks_per_s": len(chunks) / t_embed,
                             "index_chunks_per_s": len(chunks) / t_index, "end_to_end_chunks_per_s": len(chunks) / (t_embed + t_index),
                             "root": str(root)}
        out.setdefault("pools", {})[f"{ct}/{ov}"] = (chunks, batches)
        if "oldsettings" in args.parts:  # the same chunks under Qdrant's defaults, for the quality part
            from alslm_ml.rag.index import IndexSettings

            old = Path(tempfile.mkdtemp(prefix="bench_rag_"))
            build_edge(iter(batches), 384, {"dense_model": args.dense_model, "bm25_path": str(embed.build_bm25_dir())},
                       root=old, settings=IndexSettings(ef_construct=100, hnsw_ef=None))
            res[f"{ct}/{ov} qdrant-defaults"] = {"chunks": len(chunks), "root": str(old)}
        print(f"[build {ct}/{ov}] {len(docs)} docs -> {len(chunks)} chunks; embed (dense+BM25) {len(chunks)/t_embed:.1f} chunks/s, "
              f"Qdrant ingest+optimize {len(chunks)/t_index:.0f} chunks/s, end-to-end {len(chunks)/(t_embed+t_index):.1f} chunks/s", flush=True)
    out["build"] = res


def synthetic_records(docs, out, n: int, seed: int = 0):
    """Batches of 2,000 synthetic chunks: a real chunk vector plus Gaussian noise (re-normalized)
    and a real BM25 vector of a random mix of 4-8 corpus sentences. Embedding n real 256-token
    chunks would take hours on 2 cores. Seconds spent on BM25 go to out["bm25_s"]."""
    from alslm_ml.rag import embed
    from alslm_ml.rag.grounding import split_sentences
    from alslm_ml.rag.index import Record

    pool = out.get("pool_vecs")
    if pool is None:
        _, batches = out["pools"]["256/32"]
        pool = np.array([r.dense for b in batches for r in b], dtype=np.float32)
    sentences = [s for t in docs["text"] for s in split_sentences(t)]
    sparse = embed.sparse_embedder()
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    next_id, out["bm25_s"] = 0, 0.0
    while next_id < n:
        m = min(2000, n - next_id)
        texts = [" ".join(rnd.sample(sentences, rnd.randint(4, 8))) for _ in range(m)]
        ts = time.perf_counter()
        sp = list(sparse.embed(texts, batch_size=256))
        out["bm25_s"] += time.perf_counter() - ts
        base = pool[rng.integers(0, len(pool), m)]
        vecs = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        yield [Record(next_id + i, vecs[i], sp[i].indices.tolist(), sp[i].values.tolist(),
                      {"doc_id": f"syn-{(next_id + i) // 8}", "source": "starter" if i % 3 else "pubmed",
                       "title": "synthetic", "url": "", "license": "", "start": 0, "end": len(texts[i]), "text": texts[i]})
               for i in range(m)]
        next_id += m


def recall_at_ef(store, ef, queries, truth, kth) -> dict:
    """Dense top-10 at search ef `ef`: recall against the exact top 10, p50 latency, and how far the
    10th returned neighbour's cosine falls below the exact 10th's (near-ties vs real misses)."""
    store.hnsw_ef = ef
    rec, lat, gap = [], [], []
    for q, tr, kt in zip(queries, truth, kth):
        t = time.perf_counter()
        hits = store.search(q, None, k=10, mode="dense")
        lat.append(time.perf_counter() - t)
        rec.append(len({h.id for h in hits} & tr) / 10)
        gap.append(float(kt) - min(h.score for h in hits))
    return {"recall@10": float(np.mean(rec)), "dense_k10_p50_ms": pct(lat, 50), "cos_gap_10th": float(np.mean(gap))}


def prune_variants(spec: str) -> dict:
    """--prune "none;0.2/100;0.1/50/4": BM25 pruning variants (max df share / rescored candidates /
    max query terms), measured side by side; "default" is the shipped setting (which leaves an
    index under Bm25Pruning.min_points chunks unpruned); the explicit ones prune at any size."""
    from alslm_ml.rag.index import DEFAULT_PRUNING, NO_PRUNING, Bm25Pruning

    out = {}
    for v in filter(None, (x.strip() for x in spec.split(";"))):
        if v in ("none", "default"):
            out[v] = NO_PRUNING if v == "none" else DEFAULT_PRUNING
            continue
        parts = v.split("/")
        try:
            out[v] = Bm25Pruning(max_df_share=float(parts[0]), rescore=int(parts[1]) if len(parts) > 1 else DEFAULT_PRUNING.rescore,
                                 max_terms=int(parts[2]) if len(parts) > 2 else None, min_points=0)
        except ValueError:
            raise SystemExit(f"--prune {v!r}: expected none, default or SHARE[/RESCORE[/MAX_TERMS]], e.g. 0.2/100") from None
    return out


def one_at_a_time(store, dense, sparse, tok, qs) -> dict:
    """Per-stage seconds of a hybrid query, one question at a time as the app asks."""
    stages = {"tokenize": [], "dense": [], "sparse": [], "search": [], "total": []}
    for q in qs:
        t0 = time.perf_counter()
        if tok is not None:
            tok.encode_batch([q])
        t1 = time.perf_counter()
        d = next(iter(dense.query_embed([q])))  # tokenizes again: dense = this minus tokenize
        t2 = time.perf_counter()
        s = next(iter(sparse.query_embed([q])))
        t3 = time.perf_counter()
        store.search(d, (s.indices.tolist(), s.values.tolist()), k=5, mode="hybrid")
        t4 = time.perf_counter()
        stages["tokenize"].append(t1 - t0)
        stages["dense"].append(t2 - t1 - (t1 - t0))
        stages["sparse"].append(t3 - t2)
        stages["search"].append(t4 - t3)
        stages["total"].append(t4 - t1)
    return stages


def retriever_latency(retriever, qs) -> list[float]:
    lat = []
    for q in qs:
        t = time.perf_counter()
        retriever.search(q)
        lat.append(time.perf_counter() - t)
    return lat


def part_latency(docs, args, out):
    from alslm_ml.rag import embed
    from alslm_ml.rag.index import DEFAULT_PRUNING, EdgeStore, build_edge, prune_query

    n = args.chunks
    vec_file = Path(tempfile.mkdtemp(prefix="bench_rag_vecs_")) / "dense.npy"
    spooled = open(vec_file, "wb")  # for Chroma; written, not mapped, so it stays out of this RSS
    np.lib.format.write_array_header_1_0(spooled, {"descr": "<f4", "fortran_order": False, "shape": (n, 384)})

    def records():
        for b in synthetic_records(docs, out, n, seed=0):
            spooled.write(np.array([r.dense for r in b], np.float32).tobytes())
            yield b

    sparse = embed.sparse_embedder()
    root = Path(tempfile.mkdtemp(prefix="bench_rag50k_"))
    reset_peak_rss()
    rss0 = current_rss_mb()
    t0 = time.perf_counter()
    live = build_edge(records(), 384, {"synthetic": True}, root=root)
    t_build = time.perf_counter() - t0
    index_s = t_build - out["bm25_s"]
    spooled.close()
    rss_build, anon_build = peak_rss_mb(), _status_mb("RssAnon") or 0.0
    print(f"[latency] built {n} chunks in {t_build:.1f}s: Qdrant ingest+HNSW {n/index_s:.0f} chunks/s "
          f"(+ BM25 of synthetic texts {n/out['bm25_s']:.0f} chunks/s); RSS {rss0:.0f} MB before, peak {rss_build:.0f} MB "
          f"during the build, of which anonymous (not the shard's mapped files) {anon_build:.0f} MB at its end; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    store = EdgeStore(live)
    dense = embed.dense_embedder(args.dense_model, threads=args.threads)
    qs = [q["question"] for q in load_qa(args.queries)]
    qd = list(dense.query_embed(qs))
    qsp = [(s.indices.tolist(), s.values.tolist()) for s in sparse.query_embed(qs)]
    tok = dense.model.tokenizer if hasattr(dense, "model") else None  # fastembed's own tokenizer
    from alslm_ml.rag.retriever import Retriever

    retriever = Retriever(store=store, dense_model=args.dense_model)  # what the app calls, end to end
    variants = prune_variants(args.prune)
    res = {"chunks": n, "ingest_hnsw_chunks_per_s": n / index_s, "dense_model": args.dense_model, "build_s": t_build,
           "build_timings": store.meta.get("build_timings"), "index_settings": store.meta.get("index_settings"),
           "bm25_df": store.meta.get("bm25_df"), "by_pruning": {}}
    runs: dict = {}
    for _ in range(2):  # warm pass + measured pass, the pruning variants interleaved (same load for each)
        for name, pruning in variants.items():
            store.pruning = pruning
            runs[name] = (one_at_a_time(store, dense, sparse, tok, qs), retriever_latency(retriever, qs))
    for name, (stages, lat) in runs.items():
        t_emb = [a + b + c for a, b, c in zip(stages["tokenize"], stages["dense"], stages["sparse"])]
        r = {"pruning": dataclasses.asdict(variants[name]), "query_embed_p50_ms": pct(t_emb, 50), "query_embed_p95_ms": pct(t_emb, 95),
             "stages": {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in stages.items()},
             "retriever": {"p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)},
             "bm25_terms": float(np.mean([len(prune_query(sp, store.bm25_df, variants[name])[0]) for sp in qsp]))}
        res["by_pruning"][name] = r
        print(f"[latency] BM25 pruning {name} ({r['bm25_terms']:.1f} of {np.mean([len(sp[0]) for sp in qsp]):.1f} query terms kept) "
              "hybrid query incl. embedding, per stage p50 / p95 ms: " + ", ".join(
                  f"{k} {v['p50_ms']:.2f} / {v['p95_ms']:.2f}" for k, v in r["stages"].items())
              + f"; Retriever.search (what the app calls) p50 {r['retriever']['p50_ms']:.2f}, p95 {r['retriever']['p95_ms']:.2f} "
              f"({len(qs)} questions, one at a time; load {os.getloadavg()[0]:.1f})", flush=True)
    store.pruning = DEFAULT_PRUNING
    default = next((k for k, v in variants.items() if v == DEFAULT_PRUNING), None)
    if default:  # the figures of the shipped setting, where the earlier passes had them
        res.update({k: res["by_pruning"][default][k] for k in ("query_embed_p50_ms", "query_embed_p95_ms", "stages", "retriever")})
    out["queries"] = (qd, qs)
    for mode in ("hybrid", "dense", "sparse"):
        for flt in (None, ["pubmed"]):
            key = mode + ("+filter" if flt else "")
            lats: dict = {}
            for _ in range(2):  # warm pass + measured pass
                for name, pruning in (variants if mode != "dense" else {"": DEFAULT_PRUNING}).items():
                    store.pruning, lat = pruning, []
                    for d, s in zip(qd, qsp):
                        t = time.perf_counter()
                        store.search(d, s, k=5, mode=mode, sources=flt)
                        lat.append(time.perf_counter() - t)
                    lats[name] = lat
            for name, lat in lats.items():
                r = {"p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)}
                if name:
                    res["by_pruning"][name][key] = r
                if not name or variants[name] == DEFAULT_PRUNING:
                    res[key] = r
                print(f"[latency] {key:<15} {('pruning ' + name) if name else '':<22} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  "
                      f"(search only, {len(lat)} queries)", flush=True)
    store.pruning = DEFAULT_PRUNING
    if "hybrid" in res and "query_embed_p50_ms" in res:
        print(f"[latency] query embedding (dense+BM25, {args.dense_model}) p50 {res['query_embed_p50_ms']:.1f} ms, "
              f"p95 {res['query_embed_p95_ms']:.1f} ms -> hybrid with embedding p50 ~{res['query_embed_p50_ms'] + res['hybrid']['p50_ms']:.1f} ms", flush=True)
    res["peak_rss_mb"] = peak_rss_mb()
    res["rss_before_mb"] = rss0
    res["rss_open_mb"] = current_rss_mb()
    res["rss_growth_per_million_mb"] = (rss_build - rss0) / (n / 1e6)
    res["rss_open_growth_per_million_mb"] = (res["rss_open_mb"] - rss0) / (n / 1e6)
    res["rss_anon_build_end_mb"], res["rss_anon_open_mb"] = anon_build, _status_mb("RssAnon")
    print(f"[latency] RSS before the build {rss0:.0f} MB (MiniLM, BM25, vector pool), peak since {res['peak_rss_mb']:.0f} MB: "
          f"build +{res['rss_growth_per_million_mb']:.0f} MB per million chunks; with the index open after the queries "
          f"{res['rss_open_mb']:.0f} MB (+{res['rss_open_growth_per_million_mb']:.0f} MB per million; anonymous "
          f"{res['rss_anon_open_mb']:.0f} MB, the rest is the shard's files mapped, reclaimable page cache)", flush=True)
    truth, kth = exact_top(np.load(vec_file, mmap_mode="r"), np.array(qd, np.float32), 10)
    chosen = store.hnsw_ef
    for ef in (chosen, *[e for e in (*SEARCH_EF, 512, 1024) if e != chosen]):  # the index's own ef first
        res.setdefault("recall_by_ef", {})[str(ef)] = recall_at_ef(store, ef, qd, truth, kth)
    res["recall@10"] = res["recall_by_ef"][str(chosen)]["recall@10"]
    store.hnsw_ef = chosen
    print(f"[latency] dense recall@10 against exact search (hnsw_ef {chosen}): {res['recall@10']:.3f}; by search ef "
          + " ".join(f"{k}: {v['recall@10']:.3f} / {v['dense_k10_p50_ms']:.2f} ms / 10th cos gap {v['cos_gap_10th']:.4f}"
                   for k, v in res["recall_by_ef"].items()), flush=True)
    store.close()
    if args.keep_index:
        print(f"[latency] shard kept at {live} (--keep-index)", flush=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
    out["latency"] = res
    out["vec_file"], out["truth"] = vec_file, truth


def _chroma_child(vec_file: str, queries: list, batch: int, conn, extra_path: str | None = None) -> None:
    """Runs in a spawned process: build a Chroma collection from the spooled vectors, time dense
    queries, report its own RSS."""
    if extra_path:
        sys.path.append(extra_path)
    import chromadb

    f = open(vec_file, "rb")  # read per batch, not mapped: only Chroma's own memory counts
    np.lib.format.read_magic(f)
    (n, dim), _, _ = np.lib.format.read_array_header_1_0(f)
    reset_peak_rss()
    rss0 = current_rss_mb()
    path = tempfile.mkdtemp(prefix="bench_chroma_")
    client = chromadb.PersistentClient(path=path, settings=chromadb.Settings(anonymized_telemetry=False))
    col = client.create_collection("alslm_chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        j = min(n, i + batch)
        vecs = np.frombuffer(f.read((j - i) * dim * 4), np.float32).reshape(j - i, dim)
        col.add(ids=[str(k) for k in range(i, j)], embeddings=vecs,
                metadatas=[{"source": "starter" if k % 3 else "pubmed"} for k in range(i, j)])
    build_s = time.perf_counter() - t0
    f.close()
    lat = []
    for _ in range(2):
        lat = []
        for q in queries:
            t = time.perf_counter()
            col.query(query_embeddings=[q], n_results=5)
            lat.append(time.perf_counter() - t)
    top10 = [[int(i) for i in col.query(query_embeddings=[q], n_results=10)["ids"][0]] for q in queries]
    conn.send({"top10": top10, "chunks": n, "build_s": build_s, "build_chunks_per_s": n / build_s, "dense_p50_ms": pct(lat, 50),
               "dense_p95_ms": pct(lat, 95), "rss_before_mb": rss0, "peak_rss_mb": peak_rss_mb(),
               "rss_growth_per_million_mb": (peak_rss_mb() - rss0) / (n / 1e6),
               "rss_open_growth_per_million_mb": (current_rss_mb() - rss0) / (n / 1e6),
               "rss_anon_open_mb": _status_mb("RssAnon")})
    del col, client
    shutil.rmtree(path, ignore_errors=True)


SETTINGS_VARIANTS = {  # name -> IndexSettings overrides, measured side by side by --parts settings
    "qdrant default (m16 efc100)": {"ef_construct": 100, "hnsw_ef": None},
    "payload_m 0": {"payload_m": 0, "ef_construct": 100},
    "payload_m 0, efc 64": {"payload_m": 0, "ef_construct": 64},
    "payload_m 0, m 12 efc 64": {"payload_m": 0, "m": 12, "ef_construct": 64},
    "payload_m 0, int8": {"payload_m": 0, "int8": True, "ef_construct": 100},
    "payload_m 0, on-disk vectors": {"payload_m": 0, "on_disk_vectors": True, "ef_construct": 100},
    "payload_m 0, upsert 10000": {"payload_m": 0, "upsert_batch": 10_000, "ef_construct": 100},
    "chosen (efc 64, search ef 256)": {},
    "BM25 index float16": {"sparse_datatype": "Float16"},
    "BM25 index uint8": {"sparse_datatype": "Uint8"},
}
SEARCH_EF = (None, 64, 128, 256)  # search-time hnsw_ef tried on every variant (None: Qdrant's default)


def exact_top(vecs: np.ndarray, queries: np.ndarray, k: int = 10) -> tuple[list[set], np.ndarray]:
    """Brute-force cosine top-k (vectors are unit length): the ground truth for recall@k, and each
    query's k-th best cosine (a miss whose stand-in scores within a hair of it is a near-tie)."""
    best = np.full((len(queries), k), -np.inf, np.float32)
    ids = np.zeros((len(queries), k), np.int64)
    for i in range(0, len(vecs), 100_000):
        s = queries @ vecs[i : i + 100_000].T
        cand = np.concatenate([best, s], axis=1)
        cid = np.concatenate([ids, np.arange(i, i + s.shape[1])[None].repeat(len(queries), 0)], axis=1)
        top = np.argpartition(-cand, k, axis=1)[:, :k]
        best, ids = np.take_along_axis(cand, top, 1), np.take_along_axis(cid, top, 1)
    return [set(r.tolist()) for r in ids], best.min(axis=1)


def part_settings(docs, args, out):
    """Index settings side by side on the same synthetic records (held in memory, so BM25 of the
    texts is not in the build time): build chunks/s (upsert / HNSW optimize), recall@10 of dense
    search against exact, and search p50 per mode."""
    from alslm_ml.rag import embed
    from alslm_ml.rag.index import EdgeStore, IndexSettings, build_edge

    n = args.settings_chunks
    gen = synthetic_records(docs, out, n, seed=1)
    batches, vecs = [], np.empty((n, 384), np.float32)
    for b in gen:
        batches.append(b)
        for r in b:
            vecs[r.id] = r.dense
    qs = [q["question"] for q in load_qa(args.queries)]
    qd = np.array(list(embed.dense_embedder(args.dense_model, threads=args.threads).query_embed(qs)), np.float32)
    qsp = [(s.indices.tolist(), s.values.tolist()) for s in embed.sparse_embedder().query_embed(qs)]
    truth, kth = exact_top(vecs, qd, 10)
    print(f"[settings] {n} synthetic chunks, {len(qs)} real questions; load average {os.getloadavg()[0]:.1f}", flush=True)
    names = [v for v in args.variants.split(";")] if args.variants else list(SETTINGS_VARIANTS)
    res = {}
    for name in names:
        settings = IndexSettings(**SETTINGS_VARIANTS[name])
        root = Path(tempfile.mkdtemp(prefix="bench_settings_"))
        t0 = time.perf_counter()
        live = build_edge(iter(batches), 384, {"synthetic": True}, root=root, settings=settings)
        build_s = time.perf_counter() - t0
        store = EdgeStore(live)
        bt = store.meta["build_timings"]
        r = {"build_chunks_per_s": n / build_s, **bt,
             "disk_mb": sum(f.stat().st_size for f in live.resolve().rglob("*") if f.is_file()) / 2**20}
        for ef in SEARCH_EF:
            r[f"ef {ef or 'default'}"] = recall_at_ef(store, ef, qd, truth, kth)
        store.hnsw_ef = args.hnsw_ef or store.meta["index_settings"]["hnsw_ef"]
        for mode in ("dense", "sparse", "hybrid"):
            for flt in (None, ["pubmed"]):
                lat = []
                for _ in range(2):
                    lat = []
                    for d, sp in zip(qd, qsp):
                        t = time.perf_counter()
                        store.search(d, sp, k=5, mode=mode, sources=flt)
                        lat.append(time.perf_counter() - t)
                r[mode + ("+filter" if flt else "") + "_p50_ms"] = pct(lat, 50)
        efs = " ".join(f"{k.split()[1]}:{v['recall@10']:.3f}/{v['dense_k10_p50_ms']:.2f}ms/gap {v['cos_gap_10th']:.4f}" for k, v in r.items() if k.startswith("ef "))
        print(f"[settings] {name:<30} build {r['build_chunks_per_s']:5.0f}/s (upsert {bt['upsert_s']:.1f}s, optimize "
              f"{bt['optimize_s']:.1f}s, records {bt['records_s']:.1f}s), disk {r['disk_mb']:.0f} MB | recall@10/p50 by "
              f"search ef {efs} | p50 ms at ef {store.hnsw_ef}: dense {r['dense_p50_ms']:.2f} +filter "
              f"{r['dense+filter_p50_ms']:.2f} sparse {r['sparse_p50_ms']:.2f} hybrid {r['hybrid_p50_ms']:.2f} +filter "
              f"{r['hybrid+filter_p50_ms']:.2f}; load {os.getloadavg()[0]:.1f}", flush=True)
        store.close()
        shutil.rmtree(root, ignore_errors=True)
        res[name] = r
    out["settings"] = res


def part_chroma(docs, args, out):
    import multiprocessing as mp

    if args.chroma_path:
        sys.path.append(str(args.chroma_path))
    try:
        import chromadb  # noqa: F401
    except ImportError:
        print("[chroma] chromadb is not installed (pip install chromadb, or the `bench` extra): skipped", flush=True)
        return
    qd, _ = out["queries"]
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_chroma_child, args=(str(out["vec_file"]), [list(map(float, q)) for q in qd], 5000, child,
                                                str(args.chroma_path) if args.chroma_path else None))
    p.start()
    res = parent.recv()
    p.join()
    Path(out["vec_file"]).unlink(missing_ok=True)
    if "truth" in out:
        res["recall@10"] = float(np.mean([len(set(t) & tr) / 10 for t, tr in zip(res.pop("top10"), out["truth"])]))
    res.pop("top10", None)
    out["chroma"] = res
    lat = out.get("latency", {})
    print(f"[chroma] {res['chunks']} chunks: build {res['build_chunks_per_s']:.0f} chunks/s ({res['build_s']:.0f}s), dense p50 "
          f"{res['dense_p50_ms']:.2f} ms p95 {res['dense_p95_ms']:.2f} ms, recall@10 {res.get('recall@10', float('nan')):.3f}, peak RSS {res['peak_rss_mb']:.0f} MB "
          f"(+{res['rss_growth_per_million_mb']:.0f} MB per million chunks; "
          f"+{res['rss_open_growth_per_million_mb']:.0f} MB/M after the queries, anonymous {res.get('rss_anon_open_mb') or 0:.0f} MB)",
          flush=True)
    if lat:
        print(f"[compare] {res['chunks']} chunks | Qdrant edge: build {lat['ingest_hnsw_chunks_per_s']:.0f}/s, hybrid p50 "
              f"{lat['hybrid']['p50_ms']:.2f} ms, dense p50 {lat['dense']['p50_ms']:.2f} ms, RSS +{lat['rss_growth_per_million_mb']:.0f} MB/M | "
              f"Chroma: build {res['build_chunks_per_s']:.0f}/s, dense p50 {res['dense_p50_ms']:.2f} ms, RSS +{res['rss_growth_per_million_mb']:.0f} MB/M",
              flush=True)


def part_quality(docs, args, out):
    from alslm_ml.rag.index import EdgeStore
    from alslm_ml.rag.retriever import RetrievalSettings, Retriever

    qa = load_qa(args.quality_questions)
    res = {}
    variants = prune_variants(args.prune)
    for key, b in out["build"].items():
        r = Retriever(store=EdgeStore(Path(b["root"]) / "alslm_chunks"))
        tops: dict = {}
        for name, pruning in variants.items():
            r.store.pruning = pruning
            tag = f"{key} pruning {name}" if len(variants) > 1 else key
            for mode in ("hybrid", "dense", "sparse") if name == next(iter(variants)) else ("hybrid", "sparse"):
                for k in (1, 5):
                    found = [r.search(q["question"], RetrievalSettings(k=k, mode=mode)) for q in qa]
                    hit = sum(q["doc_id"] in [h.payload["doc_id"] for h in hs] for q, hs in zip(qa, found))
                    res[f"{tag} {mode} @{k}"] = hit / len(qa)
                    tops[(name, mode, k)] = [[h.id for h in hs] for hs in found]
                    same = sum(a == b for a, b in zip(tops[(name, mode, k)], tops[(next(iter(variants)), mode, k)]))
                    print(f"[quality] chunks {tag} {mode:<6} gold doc in top-{k}: {hit}/{len(qa)} = {hit/len(qa):.2f}"
                          + (f"; same top-{k} in the same order as {next(iter(variants))}: {same}/{len(qa)}" if len(variants) > 1 else ""),
                          flush=True)
        r.close()
    out["quality"] = res


def part_answer(docs, args, out):
    from rouge_score import rouge_scorer

    from alslm_ml.rag import grounding
    from alslm_ml.rag.index import EdgeStore
    from alslm_ml.rag.retriever import RetrievalSettings, Retriever
    from alslm_ml.rag.system import RagSystem
    from alslm_ml.runtime.llamacpp import LlamaCpp
    from alslm_ml.systems import GenerationConfig

    gen = LlamaCpp(n_ctx=2048, n_threads=args.threads)
    r = Retriever(store=EdgeStore(Path(out["build"]["256/32"]["root"]) / "alslm_chunks"))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    qa = load_qa(args.answer_questions)
    res = {}
    for mode in args.modes.split(","):
        system = RagSystem(r, gen, RetrievalSettings(k=5), context_tokens=args.context_tokens, answer_mode=mode)
        secs, ptoks, rouge, sup, how = [], [], [], [], []
        for q in qa:
            a = system.answer(q["question"], GenerationConfig.greedy(max_tokens=128))
            secs.append(a.seconds)
            ptoks.append(a.prompt_tokens)
            rouge.append(scorer.score(q["answer"], a.text)["rougeL"].fmeasure)
            ctx = [grounding.Sentence(i + 1, 0, s, 1.0) for i, p in enumerate(a.meta["retrieved_text"]) for s in grounding.split_sentences(p)]
            sp = grounding.support(a.text, ctx)
            sup.append(sum(x is not None for _, x in sp) / len(sp) if sp else 0.0)
            how.append(a.meta.get("answer_mode"))
        res[mode] = {"p50_s": statistics.median(secs), "max_s": max(secs), "prompt_tokens_mean": statistics.mean(ptoks),
                     "rougeL": statistics.mean(rouge), "supported": statistics.mean(sup),
                     "modes": {m: how.count(m) for m in set(how)}}
        print(f"[answer] threads {gen.n_threads} {mode:<10} end-to-end p50 {res[mode]['p50_s']:.2f}s max {res[mode]['max_s']:.2f}s, prompt {res[mode]['prompt_tokens_mean']:.0f} tok, "
              f"ROUGE-L {res[mode]['rougeL']:.3f}, supported sentences {res[mode]['supported']:.2f}, {res[mode]['modes']} "
              f"({len(qa)} questions, context_tokens={args.context_tokens})", flush=True)
    gen.close()
    r.close()
    out["answer"] = res


def part_compare(docs, args, out):
    """qdrant-edge (Qdrant's engine in-process) vs qdrant-client's pure-Python local mode, same
    records: build time and hybrid/dense query latency."""
    from qdrant_client import QdrantClient

    from alslm_ml.rag.index import EdgeStore, Record, ServerStore, build_edge, build_server

    rng = np.random.default_rng(1)
    n, dim = args.compare_chunks, 384
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    recs = [Record(i, vecs[i].tolist(), sorted(rng.choice(30000, 40, replace=False).tolist()), [1.0] * 40,
                   {"doc_id": f"d{i}", "source": "starter" if i % 3 else "pubmed", "text": ""}) for i in range(n)]
    batches = [recs[i : i + 1000] for i in range(0, n, 1000)]
    queries = [(vecs[i].tolist(), (recs[i].sparse_indices[:5], [1.0] * 5)) for i in range(0, n, max(1, n // 50))]
    res = {}
    root = Path(tempfile.mkdtemp(prefix="bench_cmp_"))
    t = time.perf_counter()
    edge = EdgeStore(build_edge(iter(batches), dim, {}, root=root / "edge"))
    res["edge_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    client = QdrantClient(path=str(root / "local"))
    build_server(client, iter(batches), dim, {})
    local = ServerStore(client)
    res["local_build_s"] = time.perf_counter() - t
    for name, store in (("edge", edge), ("local", local)):
        for mode in ("hybrid", "dense"):
            lat = []
            for d, sp in queries:
                t = time.perf_counter()
                store.search(d, sp, k=5, mode=mode)
                lat.append(time.perf_counter() - t)
            res[f"{name}_{mode}_p50_ms"] = pct(lat, 50)
            res[f"{name}_{mode}_p95_ms"] = pct(lat, 95)
    print(f"[compare] {n} chunks: qdrant-edge build {res['edge_build_s']:.1f}s, hybrid p50 {res['edge_hybrid_p50_ms']:.2f} ms, "
          f"dense p50 {res['edge_dense_p50_ms']:.2f} ms | qdrant-client local build {res['local_build_s']:.1f}s, "
          f"hybrid p50 {res['local_hybrid_p50_ms']:.2f} ms, dense p50 {res['local_dense_p50_ms']:.2f} ms", flush=True)
    out["compare"] = res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, default=REPO / "alslm_ml" / "sources" / "starter" / "docs")
    ap.add_argument("--chunks", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--quality-questions", type=int, default=100)
    ap.add_argument("--answer-questions", type=int, default=8)
    ap.add_argument("--modes", default="auto,generate,extractive")
    ap.add_argument("--context-tokens", type=int, default=384)
    ap.add_argument("--threads", type=int, default=None, help="ONNX/llama.cpp threads (default: all cores)")
    ap.add_argument("--dense-model", default="auto", help="auto (int8 MiniLM on a CPU) or a dense model name")
    ap.add_argument("--parts", default="build,latency,quality,answer", help="comma list; add chunks512 to compare 512/64 chunks")
    ap.add_argument("--compare-chunks", type=int, default=10_000)
    ap.add_argument("--settings-chunks", type=int, default=100_000)
    ap.add_argument("--hnsw-ef", type=int, default=None, help="settings part: search ef for the per-mode latencies "
                    "(default: what the index records)")
    ap.add_argument("--variants", default="", help="settings part: ';'-separated names from SETTINGS_VARIANTS")
    ap.add_argument("--prune", default="none;default", help="BM25 query pruning variants measured side by side by the "
                    "latency and quality parts: ';'-separated none | default | SHARE[/RESCORE[/MAX_TERMS]] (e.g. 0.2/100)")
    ap.add_argument("--keep-index", action="store_true", help="latency part: keep the synthetic shard (its path is printed)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--chroma-path", type=Path, help="a folder appended to sys.path where chromadb was installed "
                    "(pip install --target DIR chromadb), to keep it out of the project venv")
    ap.add_argument("--pool", type=Path, help="a .npy of the starter chunk vectors: written by the build part, "
                    "read instead of re-embedding the corpus when only latency/chroma/settings run")
    args = ap.parse_args(argv)
    from alslm_ml.rag import embed

    args.dense_model = embed.resolve_dense_model(args.dense_model)
    os.environ.setdefault("ALSLM_DATA_DIR", tempfile.mkdtemp(prefix="bench_rag_data_"))
    docs = load_docs(args.docs)
    out: dict = {}
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (figures taken under this contention)", flush=True)
    args.parts = {x.strip() for x in args.parts.split(",")}  # whole names: "oldsettings" is not "settings"
    if args.parts == {"compare"}:
        part_compare(docs, args, out)
        return 0
    needs_build = any(p in args.parts for p in ("build", "quality", "answer"))
    if args.pool and args.pool.exists() and not needs_build:
        out["pool_vecs"] = np.load(args.pool)  # the starter chunk vectors of an earlier run
        print(f"[build] skipped: {len(out['pool_vecs'])} chunk vectors from {args.pool}", flush=True)
    else:
        part_build(docs, args, out)
        if args.pool:
            _, batches = out["pools"]["256/32"]
            np.save(args.pool, np.array([r.dense for b in batches for r in b], dtype=np.float32))
    if "latency" in args.parts:
        part_latency(docs, args, out)
        if "chroma" in args.parts:
            part_chroma(docs, args, out)
        shutil.rmtree(Path(out.pop("vec_file")).parent, ignore_errors=True)  # 1.5 GB at a million chunks
    if "settings" in args.parts:
        part_settings(docs, args, out)
    if "quality" in args.parts:
        part_quality(docs, args, out)
    if "answer" in args.parts:
        part_answer(docs, args, out)
    if "compare" in args.parts:
        part_compare(docs, args, out)
    for k in ("pools", "queries", "truth"):
        out.pop(k, None)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
