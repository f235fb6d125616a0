"""Build the vector index from the `corpus` table: chunk, embed (dense + BM25), store in Qdrant,
swap in atomically."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from alslm_ml.rag import embed
from alslm_ml.rag.chunking import Chunk, chunk_documents
from alslm_ml.rag.index import COLLECTION, Record, build_edge, build_server, server_client, server_url


@dataclass
class BuildStats:
    documents: int
    chunks: int
    seconds: float
    location: str
    dense_model: str

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0


def _batched(it, n: int) -> Iterator[list]:
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def embed_chunks(chunks: list[Chunk], dense, sparse, batch_size: int = 64, start_id: int = 0,
                 total: int | None = None, progress: bool = True) -> Iterator[list[Record]]:
    """Records (dense + BM25 vectors + payload) in batches, ids counting from start_id."""
    bar = tqdm(total=total or len(chunks), desc="embedding chunks", unit="chunk", disable=not progress)
    next_id = start_id
    for batch in _batched(chunks, batch_size):
        texts = [c.text for c in batch]
        dvecs = list(dense.embed(texts, batch_size=batch_size))
        svecs = list(sparse.embed(texts, batch_size=batch_size))
        out = []
        for c, d, s in zip(batch, dvecs, svecs):
            out.append(Record(next_id, d.tolist(), s.indices.tolist(), s.values.tolist(), c.payload()))
            next_id += 1
        bar.update(len(batch))
        yield out
    bar.close()


def build_vector_index(
    corpus: pd.DataFrame,
    chunk_tokens: int = 256,
    overlap: int = 32,
    dense_model: str = embed.DENSE_MODEL,
    dense_model_path: str | None = None,
    batch_size: int = 64,
    collection: str = COLLECTION,
    root: Path | None = None,
    progress: bool = True,
    log=None,
) -> BuildStats:
    """Index every document of `corpus` (columns id, source, url, title, text, license, ...).
    With QDRANT_URL set the collection goes to that server, else to data/qdrant/<collection>."""
    t0 = time.perf_counter()
    if corpus.empty:
        raise ValueError("corpus is empty: materialize `corpus` first (nothing to index)")
    dup = corpus["id"][corpus["id"].duplicated()].tolist() if "id" in corpus else []
    if dup:
        raise ValueError(f"corpus: duplicate document id(s) {dup[:5]}")
    dense = embed.dense_embedder(dense_model, dense_model_path)
    sparse = embed.sparse_embedder()
    tok = embed.token_counter(dense_model_path if dense_model != embed.DENSE_MODEL else None)
    chunks = list(chunk_documents(corpus, tok, chunk_tokens, overlap))
    if log:
        log(f"{len(corpus)} documents -> {len(chunks)} chunks of <= {chunk_tokens} tokens (overlap {overlap})")
    dim = len(next(iter(dense.embed(["dimension probe"]))))
    meta = {
        "dense_model": dense_model,
        "dense_model_path": str(dense_model_path) if dense_model_path else None,
        "bm25_path": str(embed.build_bm25_dir()),
        "chunk_tokens": chunk_tokens,
        "overlap": overlap,
        "documents": int(len(corpus)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    records = embed_chunks(chunks, dense, sparse, batch_size, progress=progress)
    if server_url():
        client = server_client()
        location = f"{server_url()} collection alias {collection} -> {build_server(client, records, dim, meta, collection)}"
        client.close()
    else:
        location = str(build_edge(records, dim, meta, collection, root))
    return BuildStats(len(corpus), len(chunks), time.perf_counter() - t0, location, dense_model)
