"""Build the vector index from the `corpus` table: chunk, embed (dense + BM25), store in Qdrant,
swap in atomically.

Streams: the corpus may come as one DataFrame or as an iterator of batches (DataFrames or lists
of row dicts), chunks flow through in windows, and only the index holds them all. Dense vectors
go through a spool on disk (alslm_ml.rag.spool), so a killed build keeps the chunks it finished
and the rerun embeds only the rest.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alslm_ml.rag import embed
from alslm_ml.rag.chunking import Chunk, chunk_documents
from alslm_ml.rag.index import COLLECTION, Record, build_edge, build_server, server_client, server_url
from alslm_ml.rag.spool import Spool, spool_dir, text_key
from alslm_ml.threads import free_cores

WINDOW = 2048  # chunks per spool part: what a killed build can lose


@dataclass
class BuildStats:
    documents: int
    chunks: int
    seconds: float
    location: str
    dense_model: str
    embedded: int = 0  # chunks embedded in this run
    reused: int = 0  # chunks whose dense vector came from the spool
    embed_seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    @property
    def embed_chunks_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds else 0.0


def _batched(it, n: int) -> Iterator[list]:
    it = iter(it)
    while batch := list(itertools.islice(it, n)):
        yield batch


def embed_texts(texts: list[str], dense, batch_size: int = 16, lengths: list[int] | None = None,
                on_batch=None) -> np.ndarray:
    """Dense vectors of `texts` (n x dim, input order). Sorted by length first so each padded
    batch holds texts of about one length (the tail chunks of documents are short)."""
    order = np.argsort(-np.asarray(lengths if lengths is not None else [len(t) for t in texts]), kind="stable")
    out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        for j, v in zip(idx, dense.embed([texts[j] for j in idx], batch_size=len(idx))):
            out[j] = v
        if on_batch:
            on_batch(len(idx))
    return np.asarray(out, np.float32).reshape(len(texts), -1)


@dataclass
class _Counts:
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    embed_seconds: float = 0.0


def embed_chunks(chunks: Iterable[Chunk], dense, sparse, batch_size: int = 16, start_id: int = 0,
                 total: int | None = None, progress: bool = True, spool: Spool | None = None,
                 window: int | None = None, counts: _Counts | None = None, log=None) -> Iterator[list[Record]]:
    """Records (dense + BM25 vectors + payload) in windows, ids counting from start_id. With a
    spool, dense vectors found there are reused and new ones are written to it per window."""
    counts = counts if counts is not None else _Counts()
    bar = tqdm(total=total, desc="embedding chunks", unit="chunk", disable=not progress)
    next_id, t_log = start_id, time.perf_counter()
    for batch in _batched(chunks, window or WINDOW):
        texts = [c.text for c in batch]
        keys = np.array([text_key(t) for t in texts], np.uint64)
        found, dvecs = spool.lookup(keys) if spool is not None else (np.zeros(len(batch), bool), None)
        todo = np.flatnonzero(~found)
        bar.update(int(found.sum()))
        new = None
        if len(todo):
            t0 = time.perf_counter()
            new = embed_texts([texts[i] for i in todo], dense, batch_size, [batch[i].n_tokens for i in todo], bar.update)
            counts.embed_seconds += time.perf_counter() - t0
            if spool is not None:
                spool.add(keys[todo], new)
        dense_out = np.empty((len(batch), spool.dim if spool is not None else new.shape[1]), np.float32)
        if new is not None:
            dense_out[todo] = new
        if found.any():
            dense_out[found] = dvecs
        svecs = list(sparse.embed(texts, batch_size=256))
        counts.chunks += len(batch)
        counts.embedded += len(todo)
        counts.reused += int(found.sum())
        yield [Record(next_id + i, dense_out[i], s.indices.tolist(), s.values.tolist(), c.payload())
               for i, (c, s) in enumerate(zip(batch, svecs))]
        next_id += len(batch)
        if log and time.perf_counter() - t_log > 60:
            rate = counts.embedded / counts.embed_seconds if counts.embed_seconds else 0.0
            log(f"{counts.chunks} chunks ready ({counts.reused} from the spool, {counts.embedded} embedded at {rate:.1f} chunks/s)")
            t_log = time.perf_counter()
    bar.close()


def corpus_rows(corpus) -> Iterator[dict]:
    """Rows of a corpus given as one DataFrame, or as an iterable of DataFrames / lists of row
    dicts / row dicts (e.g. `alslm.corpus` read from DuckDB in batches)."""
    items = [corpus] if isinstance(corpus, pd.DataFrame) else corpus
    for item in items:
        if isinstance(item, pd.DataFrame):  # in slices: no second copy of a whole corpus as dicts
            for i in range(0, len(item), 1000):
                yield from item.iloc[i : i + 1000].to_dict("records")
        elif isinstance(item, dict):
            yield item
        else:
            yield from item


def _unique_rows(rows: Iterable[dict], seen: set) -> Iterator[dict]:
    for row in rows:
        if "id" in row:
            if row["id"] in seen:
                raise ValueError(f"corpus: duplicate document id {row['id']!r}")
            seen.add(row["id"])
        yield row


def _documents(corpus: pd.DataFrame | Iterable, max_chunks: int | None, seen: set) -> Iterator[dict]:
    """The corpus rows, each id once (ids collected in `seen`); ValueError before any work for an
    empty corpus, a bad max_chunks, or (a whole table) duplicate ids."""
    rows = corpus_rows(corpus)
    first = next(rows, None)
    if first is None:
        raise ValueError("corpus is empty: materialize `corpus` first (nothing to index)")
    if max_chunks is not None and max_chunks <= 0:
        raise ValueError(f"max_chunks must be a positive number of chunks, got {max_chunks}")
    docs = _unique_rows(itertools.chain([first], rows), seen)
    if isinstance(corpus, pd.DataFrame):  # a whole table: report duplicates before any work
        dup = corpus["id"][corpus["id"].duplicated()].tolist() if "id" in corpus else []
        if dup:
            raise ValueError(f"corpus: duplicate document id(s) {dup[:5]}")
    return docs


def _open_spool(dense_model: str, dense_model_path: str | None, spool_root: Path | None, dim: int) -> Spool:
    """The vector spool of this model file: vectors of an earlier (crashed) build are reused."""
    model_dir = Path(dense_model_path) if dense_model_path else embed.default_onnx_dir()
    model_file = model_dir / embed._MODEL_FILES.get(dense_model, "model.onnx")
    return Spool(spool_dir(dense_model, model_file, spool_root), dim, {"dense_model": dense_model, "model_file": str(model_file)})


def _write_index(records, dim: int, meta: dict, collection: str, root: Path | None, seen: set) -> str:
    """Write the records to the Qdrant server (QDRANT_URL) or the local edge shard; returns where."""
    if server_url():
        client = server_client()
        built = build_server(client, records, dim, {**meta, "documents": None}, collection)
        client.close()
        return f"{server_url()} collection alias {collection} -> {built}"
    return str(build_edge(records, dim, meta, collection, root, extra=lambda: {"documents": len(seen)}))


def build_vector_index(
    corpus: pd.DataFrame | Iterable,
    chunk_tokens: int = 256,
    overlap: int = 32,
    dense_model: str = embed.AUTO,
    dense_model_path: str | None = None,
    batch_size: int = 16,
    collection: str = COLLECTION,
    root: Path | None = None,
    progress: bool = True,
    log=None,
    max_chunks: int | None = None,
    threads: int | None = None,
    device: str = embed.AUTO,
    spool_root: Path | None = None,
    keep_spool: bool = True,
    total_chunks: int | None = None,
) -> BuildStats:
    """Index the documents of `corpus` (columns id, source, url, title, text, license, ...), the
    first `max_chunks` chunks only when set. `threads` (onnxruntime intra-op) defaults to the
    cores not already busy. With QDRANT_URL set the collection goes to that
    server, else to data/qdrant/<collection>. Dense vectors are spooled under data/embeddings/
    (`spool_root`): a rerun after a crash embeds only what is missing; `keep_spool=False` deletes
    the spool once the new index is live."""
    t0 = time.perf_counter()
    seen: set = set()
    docs = _documents(corpus, max_chunks, seen)
    dense_model = embed.resolve_dense_model(dense_model)
    # onnxruntime's workers spin at barriers like llama.cpp's: on a busy machine, the free cores only
    threads = threads or free_cores()
    dense = embed.dense_embedder(dense_model, dense_model_path, threads=threads, device=device)
    sparse = embed.sparse_embedder()
    tok = embed.token_counter(dense_model_path if dense_model not in (embed.DENSE_MODEL, embed.DENSE_MODEL_INT8) else None)
    chunks = chunk_documents(docs, tok, chunk_tokens, overlap)
    if max_chunks:
        chunks = itertools.islice(chunks, max_chunks)
    dim = len(next(iter(dense.embed(["dimension probe"]))))
    spool = _open_spool(dense_model, dense_model_path, spool_root, dim)
    if log:
        log(f"chunking {chunk_tokens}/{overlap} tokens, embedding with {dense_model} ({type(dense).__name__}, {threads} threads), "
            f"{len(spool)} vectors already in the spool {spool.path}" + (f", at most {max_chunks} chunks" if max_chunks else ""))
    meta = {
        "dense_model": dense_model,
        "dense_model_path": str(dense_model_path) if dense_model_path else None,
        "bm25_path": str(embed.build_bm25_dir()),
        "chunk_tokens": chunk_tokens,
        "overlap": overlap,
        "max_chunks": max_chunks,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    counts = _Counts()
    total = total_chunks or max_chunks  # unknown until chunked otherwise: the bar counts and shows the rate
    records = embed_chunks(chunks, dense, sparse, batch_size, total=total, progress=progress, spool=spool,
                           counts=counts, log=log)
    location = _write_index(records, dim, meta, collection, root, seen)
    if not keep_spool:
        spool.remove()
    return BuildStats(len(seen), counts.chunks, time.perf_counter() - t0, location, dense_model,
                      counts.embedded, counts.reused, counts.embed_seconds)

