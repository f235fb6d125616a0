"""Embedding benchmark: int8 vs fp32 MiniLM (agreement, retrieval hit rate, chunks/s), batch size,
threads and length-sorted batches; the CUDA path when a GPU is present.

    .venv/bin/python benchmarks/bench_embed.py                        # everything (~10 min on 2 busy cores)
    .venv/bin/python benchmarks/bench_embed.py --parts speed --sample 128 --batch-sizes 16,32

Parts:
- agree: embed every starter chunk (256/32) with fp32 and int8: cosine min / p1 / mean.
- hits: index the starter chunks once per model (same BM25) and ask the first benchmark's
  questions (alslm_ml/eval/benchmark/questions.json): a question is a hit when some key fact is
  found in its top-k chunks (eval.scoring.match_key_facts on the joined chunks, the evaluation's measure);
  hybrid and dense, k=5; also the mean share of key facts found.
- speed: chunks/s per model x batch size x threads on `--sample` starter chunks, length-sorted
  batches (build.embed_texts) and, for the default batch size, unsorted as it was; best of
  `--reps` interleaved passes (the machine is shared: interleaving keeps the comparison fair).
- cuda: fp32 on CUDA (onnxruntime's CUDA provider, else torch fp16) at several batch sizes;
  skipped without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
from bench_retrieval import load_docs, peak_rss_mb  # noqa: E402


def starter_chunks(docs):
    from alslm_ml.rag import embed
    from alslm_ml.rag.chunking import chunk_documents

    return list(chunk_documents(docs, embed.token_counter(), 256, 32))


def part_agree(chunks, models, args, out):
    from alslm_ml.rag.build import embed_texts

    vecs = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        vecs[name] = embed_texts([c.text for c in chunks], m, 32, [c.n_tokens for c in chunks])
        print(f"[agree] {name}: {len(chunks)} chunks in {time.perf_counter() - t0:.0f}s", flush=True)
    cos = (vecs["fp32"] * vecs["int8"]).sum(1)
    out["agree"] = {"chunks": len(chunks), "cos_min": float(cos.min()), "cos_p1": float(np.percentile(cos, 1)),
                    "cos_mean": float(cos.mean())}
    print(f"[agree] int8 vs fp32 cosine over {len(chunks)} starter chunks: min {cos.min():.4f}, p1 "
          f"{np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}", flush=True)
    return vecs


def part_hits(chunks, models, vecs, args, out):
    from alslm_ml.eval.scoring import match_key_facts
    from alslm_ml.rag import embed
    from alslm_ml.rag.index import EdgeStore, Record, build_edge

    qs = [q for q in json.loads((REPO / "alslm_ml/eval/benchmark/questions.json").read_text())["questions"] if q.get("key_facts")]
    sparse = embed.sparse_embedder()
    svecs = list(sparse.embed([c.text for c in chunks], batch_size=256))
    qsp = [(s.indices.tolist(), s.values.tolist()) for s in sparse.query_embed([q["question"] for q in qs])]
    res = {}
    for name, m in models.items():
        recs = [Record(i, vecs[name][i], s.indices.tolist(), s.values.tolist(), c.payload()) for i, (c, s) in enumerate(zip(chunks, svecs))]
        root = Path(tempfile.mkdtemp(prefix=f"bench_embed_{name}_"))
        store = EdgeStore(build_edge([recs], vecs[name].shape[1], {"dense_model": name}, root=root))
        qd = list(m.query_embed([q["question"] for q in qs]))
        for mode in ("hybrid", "dense"):
            hit, recall = 0, []
            for q, d, s in zip(qs, qd, qsp):
                got = [h.text for h in store.search(d, s, k=args.k, mode=mode)]
                found = match_key_facts("\n\n".join(got), q["key_facts"])
                hit += any(found)
                recall.append(sum(found) / len(found))
            res[f"{name} {mode}"] = {"hit_rate": hit / len(qs), "fact_recall": float(np.mean(recall))}
            print(f"[hits] {name:<5} {mode:<6} top-{args.k}: {hit}/{len(qs)} questions with a key fact = {hit / len(qs):.3f}, "
                  f"mean key-fact recall {np.mean(recall):.3f}", flush=True)
        store.close()
    for mode in ("hybrid", "dense"):
        d = 100 * (res[f"int8 {mode}"]["hit_rate"] - res[f"fp32 {mode}"]["hit_rate"])
        print(f"[hits] {mode}: int8 - fp32 = {d:+.1f} points", flush=True)
    out["hits"] = res


def part_speed(chunks, args, out):
    from alslm_ml.rag import embed
    from alslm_ml.rag.build import embed_texts

    rng = np.random.default_rng(0)
    sample = [chunks[i] for i in rng.choice(len(chunks), min(args.sample, len(chunks)), replace=False)]
    texts, lens = [c.text for c in sample], [c.n_tokens for c in sample]
    print(f"[speed] {len(sample)} chunks, mean {np.mean(lens):.0f} tokens; load average {os.getloadavg()[0]:.1f}", flush=True)
    runs = []
    for threads in [int(t) for t in args.threads.split(",")]:
        ms = {n: embed.dense_embedder(model, threads=threads, device="cpu") for n, model in
              (("fp32", embed.DENSE_MODEL), ("int8", embed.DENSE_MODEL_INT8))}
        for name, m in ms.items():
            for bs in [int(b) for b in args.batch_sizes.split(",")]:
                runs.append((f"{name} threads {threads} batch {bs} sorted", lambda m=m, bs=bs: embed_texts(texts, m, bs, lens)))
            runs.append((f"{name} threads {threads} batch 64 unsorted (before)", lambda m=m: list(m.embed(texts, batch_size=64))))
    best = {k: 0.0 for k, _ in runs}
    for _ in range(args.reps):
        for key, fn in runs:
            t0 = time.perf_counter()
            fn()
            best[key] = max(best[key], len(texts) / (time.perf_counter() - t0))
    for key, v in best.items():
        print(f"[speed] {key:<40} {v:6.1f} chunks/s", flush=True)
    print(f"[speed] load average after {os.getloadavg()[0]:.1f}", flush=True)
    out["speed"] = best


def part_cuda(chunks, args, out):
    from alslm_ml.rag import embed
    from alslm_ml.rag.build import embed_texts

    backend = embed.cuda_backend()
    if not backend:
        print("[cuda] no CUDA device (onnxruntime CUDA provider or torch.cuda): skipped", flush=True)
        return
    m = embed.dense_embedder(embed.DENSE_MODEL, device="cuda")
    texts = [c.text for c in chunks] * max(1, 4096 // len(chunks))
    lens = [len(t) for t in texts]
    embed_texts(texts[:256], m, 64, lens[:256])  # warm-up
    res = {}
    for bs in (64, 128, 256, 512):
        t0 = time.perf_counter()
        embed_texts(texts, m, bs, lens)
        res[bs] = len(texts) / (time.perf_counter() - t0)
        print(f"[cuda] {backend} fp32 batch {bs}: {res[bs]:.0f} chunks/s ({len(texts)} chunks)", flush=True)
    out["cuda"] = {"backend": backend, "chunks_per_s": res}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, default=REPO / "alslm_ml" / "sources" / "starter" / "docs")
    ap.add_argument("--parts", default="agree,hits,speed,cuda")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--sample", type=int, default=192)
    ap.add_argument("--batch-sizes", default="8,32,64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    os.environ.setdefault("ALSLM_DATA_DIR", tempfile.mkdtemp(prefix="bench_embed_data_"))
    from alslm_ml.rag import embed

    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (figures taken under this contention)", flush=True)
    chunks = starter_chunks(load_docs(args.docs))
    out: dict = {}
    parts = args.parts.split(",")
    if "agree" in parts or "hits" in parts:
        models = {"fp32": embed.dense_embedder(embed.DENSE_MODEL, device="cpu"), "int8": embed.dense_embedder(embed.DENSE_MODEL_INT8)}
        vecs = part_agree(chunks, models, args, out)
        if "hits" in parts:
            part_hits(chunks, models, vecs, args, out)
    if "speed" in parts:
        part_speed(chunks, args, out)
    if "cuda" in parts:
        part_cuda(chunks, args, out)
    out["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {out['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
