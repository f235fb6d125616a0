"""The hybrid Qdrant index on Qdrant's real engine (qdrant-edge) with real embeddings: hybrid vs
dense on an exact term, per-source filters, atomic replacement, missing index, dead server."""

import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "rag"))
import ragkit  # noqa: E402

from alslm_ml.rag import build as build_mod  # noqa: E402
from alslm_ml.rag import (
    embed,  # noqa: E402
    index,  # noqa: E402
)
from alslm_ml.rag.build import build_vector_index  # noqa: E402
from alslm_ml.rag.retriever import RetrievalSettings, Retriever  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    yield from ragkit.data_dir_env(tmp_path_factory, "rag_index")


@pytest.fixture(scope="module")
def corpus():
    return pd.concat([ragkit.mini_corpus(), pd.DataFrame([ragkit.exact_term_doc()])], ignore_index=True)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, data_dir, corpus):
    root = tmp_path_factory.mktemp("qdrant")
    stats = build_vector_index(corpus, chunk_tokens=128, overlap=16, root=root, progress=False)
    assert stats.documents == len(corpus) and stats.chunks > len(corpus)
    r = Retriever(root=root)
    yield r
    r.close()


def _rank(hits, doc_id):
    ids = [h.payload["doc_id"] for h in hits]
    return ids.index(doc_id) if doc_id in ids else len(ids) + 1


def test_index_holds_chunks_with_provenance(retriever, corpus):
    store = retriever.store
    assert store.count() >= len(corpus)
    assert store.meta["chunk_tokens"] == 128 and store.meta["dense_model"] == embed.resolve_dense_model("auto")
    assert store.meta["documents"] == len(corpus)
    hits = retriever.search("What does tofersen target?")
    assert len(hits) == 5
    top = hits[0].payload
    assert top["doc_id"] == "tofersen-valor-trial"
    text = corpus.set_index("id").loc[top["doc_id"], "text"]
    assert text[top["start"] : top["end"]] == top["text"]
    assert {"title", "url", "source", "license", "chunk_index"} <= set(top)


def test_hybrid_beats_or_equals_dense_on_exact_term(retriever):
    q = "Which box is QZX-4471?"
    dense = retriever.search(q, RetrievalSettings(k=5, mode="dense"))
    sparse = retriever.search(q, RetrievalSettings(k=5, mode="sparse"))
    hybrid = retriever.search(q, RetrievalSettings(k=5, mode="hybrid"))
    assert _rank(sparse, "sample-log") == 0
    assert _rank(hybrid, "sample-log") <= _rank(dense, "sample-log")
    assert _rank(hybrid, "sample-log") <= 1


def test_semantic_query_without_shared_terms_is_found_by_dense(retriever):
    hits = retriever.search("blood test marker of nerve cell damage", RetrievalSettings(k=3, mode="hybrid"))
    assert "neurofilament-light-chain" in [h.payload["doc_id"] for h in hits]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_source_filter(retriever, mode):
    q = "riluzole glutamate tofersen SOD1"
    for src in ("starter", "educational"):
        hits = retriever.search(q, RetrievalSettings(k=5, mode=mode, sources=[src]))
        assert hits and {h.payload["source"] for h in hits} == {src}
    both = retriever.search(q, RetrievalSettings(k=8, mode=mode, sources=["starter", "educational"]))
    assert {h.payload["source"] for h in both} == {"starter", "educational"}
    assert retriever.search(q, RetrievalSettings(mode=mode, sources=["pubmed"])) == []


def test_atomic_replace_keeps_previous_index_on_failure(data_dir, tmp_path, monkeypatch, corpus):
    small = corpus[corpus["id"].isin(["sample-log", "fus-mutations"])]
    build_vector_index(small, chunk_tokens=128, overlap=16, root=tmp_path, progress=False)
    live = tmp_path / index.COLLECTION
    first_target = os.readlink(live)
    n_first = index.open_store(root=tmp_path).count()

    real = build_mod.embed_chunks

    def failing(*a, **kw):
        gen = real(*a, **kw)
        yield next(gen)
        raise RuntimeError("embedding crashed mid-build")

    monkeypatch.setattr(build_mod, "embed_chunks", failing)
    with pytest.raises(RuntimeError, match="mid-build"):
        build_vector_index(corpus, chunk_tokens=64, overlap=8, root=tmp_path, progress=False)
    assert os.readlink(live) == first_target  # still the old shard
    assert [p.name for p in tmp_path.glob(f"{index.COLLECTION}.*")] == [first_target]  # partial build removed
    store = index.open_store(root=tmp_path)
    assert store.count() == n_first
    r = Retriever(store=store)
    assert r.search("QZX-4471")[0].payload["doc_id"] == "sample-log"
    r.close()

    monkeypatch.setattr(build_mod, "embed_chunks", real)
    build_vector_index(corpus, chunk_tokens=128, overlap=16, root=tmp_path, progress=False)
    assert os.readlink(live) != first_target
    assert not (tmp_path / first_target).exists()  # old version pruned
    assert index.open_store(root=tmp_path).count() > n_first


def test_server_store_alias_swap_with_qdrant_client(retriever):
    """The QDRANT_URL path (qdrant-client), run against qdrant-client's local mode."""
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    d, s = retriever.embed_query("tofersen SOD1")
    rec = [index.Record(i, d, s[0], s[1], {"doc_id": f"d{i}", "source": "starter" if i % 2 else "pubmed", "text": ""}) for i in range(6)]
    index.build_server(client, [rec], len(d), {"chunk_tokens": 1})
    second = index.build_server(client, [rec[:3]], len(d), {"chunk_tokens": 2})
    assert [c.name for c in client.get_collections().collections] == [second]
    store = index.ServerStore(client)
    assert store.count() == 3
    hits = store.search(d, s, k=3, sources=["pubmed"])
    assert {h.payload["source"] for h in hits} == {"pubmed"}


def test_missing_index_names_the_asset_to_materialize(tmp_path):
    with pytest.raises(index.IndexMissingError, match="dagster asset materialize -m alslm_assets --select vector_index"):
        index.open_store(root=tmp_path)


def test_dead_qdrant_server_fails_fast(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    t0 = time.perf_counter()
    with pytest.raises(index.QdrantUnavailableError, match="127.0.0.1:9.*does not answer"):
        index.open_store()
    assert time.perf_counter() - t0 < 15


def test_empty_corpus_is_rejected(data_dir, tmp_path):
    with pytest.raises(ValueError, match="corpus is empty"):
        build_vector_index(pd.DataFrame(columns=["id", "source", "url", "title", "text", "license"]), root=tmp_path)
    with pytest.raises(ValueError, match="corpus is empty"):
        build_vector_index(iter([]), root=tmp_path)


class _CountingEmbedder:
    """Wraps the real dense embedder; counts the texts it embeds and can crash after `fail_after`."""

    def __init__(self, inner, fail_after=None):
        self.inner, self.fail_after, self.texts = inner, fail_after, 0

    def __getattr__(self, name):  # query_embed etc.
        return getattr(self.inner, name)

    def embed(self, texts, batch_size=32, **kw):
        texts = list(texts)
        if self.fail_after is not None and self.texts + len(texts) > self.fail_after and len(texts) > 1:
            raise RuntimeError("killed mid-embedding")
        self.texts += len(texts)
        return self.inner.embed(texts, batch_size=batch_size, **kw)


def test_killed_build_resumes_embedding_only_the_missing_chunks(data_dir, tmp_path, monkeypatch, corpus):
    real = embed.dense_embedder
    made = []

    def wrapped(fail_after):
        def factory(*a, **kw):
            made.append(_CountingEmbedder(real(*a, **kw), fail_after))
            return made[-1]
        return factory

    monkeypatch.setattr(build_mod, "WINDOW", 8)
    spool = tmp_path / "spool"
    monkeypatch.setattr(embed, "dense_embedder", wrapped(20))
    with pytest.raises(RuntimeError, match="killed mid-embedding"):
        build_vector_index(corpus, chunk_tokens=64, overlap=8, root=tmp_path / "q", spool_root=spool, progress=False)
    assert not (tmp_path / "q" / index.COLLECTION).exists()  # no index from the killed run
    kept = sum(len(np.load(p)) for p in spool.glob("*/part-*.keys.npy"))
    assert kept == 16  # two finished windows of 8

    monkeypatch.setattr(embed, "dense_embedder", wrapped(None))
    stats = build_vector_index(corpus, chunk_tokens=64, overlap=8, root=tmp_path / "q", spool_root=spool, progress=False)
    assert stats.reused == 16 and stats.embedded == stats.chunks - 16
    assert made[-1].texts == stats.embedded + 1  # + the dimension probe

    fresh = build_vector_index(corpus, chunk_tokens=64, overlap=8, root=tmp_path / "q2", spool_root=tmp_path / "spool2",
                               progress=False, keep_spool=False)
    assert fresh.chunks == stats.chunks and not any((tmp_path / "spool2").glob("*/part-*"))
    a, b = index.open_store(root=tmp_path / "q"), index.open_store(root=tmp_path / "q2")
    r = Retriever(store=a)
    d, sp = r.embed_query("What does tofersen target?")
    ha, hb = a.search(d, sp, k=5, mode="dense"), b.search(d, sp, k=5, mode="dense")
    assert [h.id for h in ha] == [h.id for h in hb]
    assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=1e-5)
    r.close()
    b.close()

    monkeypatch.setattr(embed, "dense_embedder", wrapped(None))
    again = build_vector_index(corpus, chunk_tokens=64, overlap=8, root=tmp_path / "q", spool_root=spool, progress=False)
    assert again.embedded == 0 and again.reused == again.chunks  # a rebuild embeds nothing new
    assert made[-1].texts == 1


def test_streamed_batches_and_max_chunks(data_dir, tmp_path, corpus):
    batches = (corpus.iloc[i : i + 3] for i in range(0, len(corpus), 3))  # as read from DuckDB in batches
    stats = build_vector_index(batches, chunk_tokens=128, overlap=16, root=tmp_path, progress=False, max_chunks=7)
    assert stats.chunks == 7
    store = index.open_store(root=tmp_path)
    assert store.count() == 7 and store.meta["max_chunks"] == 7
    store.close()
    rows = [corpus.iloc[:4].to_dict("records"), corpus.iloc[4:].to_dict("records")]  # lists of row dicts
    full = build_vector_index(iter(rows), chunk_tokens=128, overlap=16, root=tmp_path, progress=False)
    assert full.documents == len(corpus) and full.chunks > 7
    dup = [corpus.iloc[:3], corpus.iloc[2:4]]
    with pytest.raises(ValueError, match="duplicate document id"):
        build_vector_index(iter(dup), chunk_tokens=128, overlap=16, root=tmp_path, progress=False)
    assert index.open_store(root=tmp_path).count() == full.chunks  # the failed build left the index alone
    with pytest.raises(ValueError, match="max_chunks"):
        build_vector_index(corpus, root=tmp_path, max_chunks=-1)


def test_index_settings_build_a_real_hnsw_with_high_recall(tmp_path):
    """The settings reach the engine: with the indexing thresholds lowered, 3,000 random vectors get
    an HNSW graph built by optimize(); dense search at the recorded search ef finds >= 95% of the
    exact top-10; the shard records the settings and the seconds of each build step. The old call
    (no settings) still builds with DEFAULT_SETTINGS."""
    rng = np.random.default_rng(0)
    n, dim = 3000, 32
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    recs = [index.Record(i, vecs[i], [i % 50], [1.0], {"doc_id": f"d{i}", "source": "a" if i % 3 else "b", "text": ""})
            for i in range(n)]
    settings = index.IndexSettings(m=8, ef_construct=32, full_scan_kb=1, indexing_threshold_kb=1, hnsw_ef=128)
    store = index.EdgeStore(index.build_edge([recs[:1000], recs[1000:]], dim, {}, root=tmp_path / "hnsw", settings=settings))
    meta = store.meta
    assert meta["index_settings"]["ef_construct"] == 32 and store.hnsw_ef == 128
    assert set(meta["build_timings"]) == {"records_s", "upsert_s", "optimize_s"} and meta["points"] == n
    shard_files = [p.name for p in (tmp_path / "hnsw" / index.COLLECTION).resolve().rglob("*")]
    assert any("graph" in f or "links" in f for f in shard_files), shard_files  # an HNSW graph on disk
    queries = rng.normal(size=(50, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    recall = np.mean([len({h.id for h in store.search(q, None, k=10, mode="dense")} & set(e.tolist())) / 10
                      for q, e in zip(queries, exact)])
    assert recall >= 0.95, recall
    store.close()
    plain = index.EdgeStore(index.build_edge([recs[:100]], dim, {}, root=tmp_path / "plain"))
    assert plain.meta["index_settings"] == dataclasses.asdict(index.DEFAULT_SETTINGS) and plain.count() == 100
    plain.close()


def test_hybrid_ties_come_back_in_one_fixed_order(tmp_path):
    """Chunks whose dense and sparse ranks are swapped get the same fused (RRF) score; the engine
    orders such ties arbitrarily, so the store breaks them by chunk id: the same query gives the
    same top k, in the same order, every time."""
    rng = np.random.default_rng(1)
    dim, n = 16, 40
    q = rng.normal(size=dim).astype(np.float32)
    q /= np.linalg.norm(q)
    u = rng.normal(size=dim).astype(np.float32)
    u -= (u @ q) * q
    u /= np.linalg.norm(u)
    recs = []
    for i in range(n):  # dense similarity falls with i, the BM25 weight rises with i: ranks mirror
        v = q + (0.05 * (i + 1)) * u
        recs.append(index.Record(n - i, v / np.linalg.norm(v), [7], [float(i + 1)], {"doc_id": f"d{i}", "text": ""}))
    store = index.EdgeStore(index.build_edge([recs], dim, {}, root=tmp_path / "ties"))
    runs = [[h.id for h in store.search(q, ([7], [1.0]), k=6, mode="hybrid", prefetch=n)] for _ in range(5)]
    scores = [h.score for h in store.search(q, ([7], [1.0]), k=6, mode="hybrid", prefetch=n)]
    store.close()
    assert len(set(scores)) < len(scores)  # the setup really ties
    assert all(r == runs[0] for r in runs)
    hits = list(zip(scores, runs[0]))
    assert hits == sorted(hits, key=lambda t: (-t[0], t[1]))  # ties in id order


# ---------------------------------------------------------------- BM25 query pruning by document frequency


def test_prune_query_drops_common_terms_and_keeps_the_rarest():
    table = {"points": 100, "min_share": 0.005, "terms": {"1": 90, "2": 50, "3": 10, "4": 3}}
    q = ([1, 2, 3, 4, 5], [1.0, 1.0, 1.0, 1.0, 2.0])  # 5: not listed, i.e. rarer than the floor
    assert index.prune_query(q, table, index.DEFAULT_PRUNING) == q  # 100 chunks: too small to prune
    p = index.Bm25Pruning(max_df_share=0.2, min_points=0)
    assert index.prune_query(q, table, p) == ([3, 4, 5], [1.0, 1.0, 2.0])
    assert index.prune_query(([1, 2], [1.0, 1.0]), table, p) == ([1, 2], [1.0, 1.0])  # keep 2: nothing to drop
    assert index.prune_query(([1, 2, 3], [1.0, 1.0, 1.0]), table, dataclasses.replace(p, max_df_share=0.05)) == ([2, 3], [1.0, 1.0])
    assert index.prune_query(q, table, dataclasses.replace(p, max_df_share=0.5, max_terms=2)) == ([4, 5], [1.0, 2.0])
    assert index.prune_query(q, table, dataclasses.replace(p, max_df_share=0.001)) == q  # below the table's floor
    assert index.prune_query(q, None, p) == q and index.prune_query(q, table, index.NO_PRUNING) == q


FORCED = dataclasses.replace(index.DEFAULT_PRUNING, min_points=0)  # the default threshold on a small test index


def _common_term_query(store, n_terms=4):
    """The index's most common BM25 terms as a query (every one above the pruning threshold)."""
    terms = sorted(store.bm25_df["terms"].items(), key=lambda t: -t[1])[:n_terms]
    assert all(c / store.bm25_df["points"] > FORCED.max_df_share for _, c in terms), terms
    return [int(t) for t, _ in terms], [1.0] * len(terms)


def _scores(store, d, sq, k, mode, pruning):
    old, store.pruning = store.pruning, pruning
    try:
        return {h.id: h.score for h in store.search(d, sq, k=k, mode=mode)}
    finally:
        store.pruning = old


def test_df_sidecar_is_written_and_a_common_term_query_still_finds_hits(retriever):
    """The build writes the df table beside the shard and the store loads it; a query made only
    of common terms is cut to its 2 rarest, still returns k hits in every mode, and (rescored by
    the whole query) each sparse hit carries its unpruned BM25 score; without the rescoring the
    scores are those of the 2 kept terms, i.e. the pruning really reached the engine."""
    store = retriever.store
    shard = Path(store.path).resolve()
    assert (shard / index.BM25_DF_FILE).exists() and store.bm25_df["points"] == store.count()
    assert 0 < store.meta["bm25_df"]["terms"] == len(store.bm25_df["terms"])
    assert max(store.bm25_df["terms"].values()) <= store.count()
    sq = _common_term_query(store)
    d, _ = retriever.embed_query("What does tofersen target?")
    assert index.prune_query(sq, store.bm25_df, store.pruning) == sq  # the default leaves a small index alone
    assert len(index.prune_query(sq, store.bm25_df, FORCED)[0]) == FORCED.keep < len(sq[0])
    everything = _scores(store, d, sq, store.count(), "sparse", index.NO_PRUNING)
    for mode in ("sparse", "hybrid"):
        assert len(_scores(store, d, sq, 5, mode, FORCED)) == 5
    pruned = _scores(store, d, sq, 5, "sparse", FORCED)
    assert len(pruned) == 5 and all(abs(s - everything[i]) < 1e-5 for i, s in pruned.items())
    unscored = _scores(store, d, sq, 5, "sparse", dataclasses.replace(FORCED, rescore=0))
    assert any(abs(s - everything[i]) > 1e-4 for i, s in unscored.items())


def test_index_without_df_sidecar_is_searched_unpruned_and_can_get_one(retriever, tmp_path):
    """An index built before the sidecar opens and searches as before (no pruning, no error);
    write_bm25_df gives it the same table the build writes."""
    store = retriever.store
    old = tmp_path / "old"
    shutil.copytree(Path(store.path).resolve(), old)
    (old / index.BM25_DF_FILE).unlink()
    legacy = index.EdgeStore(old)
    assert legacy.bm25_df is None
    sq = _common_term_query(store)
    d, _ = retriever.embed_query("riluzole glutamate")
    for mode in ("sparse", "hybrid"):
        assert [h.id for h in legacy.search(d, sq, k=5, mode=mode)] == \
            list(_scores(store, d, sq, 5, mode, index.NO_PRUNING))
    legacy.close()
    assert index.write_bm25_df(old) == store.bm25_df
    assert index.EdgeStore(old).bm25_df == store.bm25_df


def test_server_store_keeps_the_df_table_in_the_collection_metadata(retriever):
    """QDRANT_URL path (qdrant-client local mode): the df table goes into the collection's
    metadata, the store loads it (out of `meta`, which answers show) and prunes with it."""
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    d, _ = retriever.embed_query("tofersen SOD1")
    rec = [index.Record(i, d, [1, 2, 3, 10 + i], [1.0, 1.0, 1.0, 1.0 + i], {"doc_id": f"d{i}", "source": "starter", "text": ""})
           for i in range(50)]
    index.build_server(client, [rec[:20], rec[20:]], len(d), {"chunk_tokens": 1})
    store = index.ServerStore(client)
    assert "bm25_df" not in store.meta and store.meta["chunk_tokens"] == 1
    assert store.bm25_df["points"] == 50 and store.bm25_df["terms"]["1"] == 50 and store.bm25_df["terms"]["12"] == 1
    sq = ([1, 2, 3, 12, 17], [1.0] * 5)
    assert index.prune_query(sq, store.bm25_df, FORCED) == ([12, 17], [1.0, 1.0])
    everything = _scores(store, d, sq, 50, "sparse", index.NO_PRUNING)
    pruned = _scores(store, d, sq, 5, "sparse", FORCED)
    assert set(list(everything)[:2]) == {2, 7} and list(pruned)[:2] == list(everything)[:2]
    assert all(abs(s - everything[i]) < 1e-5 for i, s in pruned.items())
    assert len(_scores(store, d, sq, 5, "hybrid", FORCED)) == 5
