"""Query side of the index: embed the question (dense + BM25) and search Qdrant."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alslm_ml.rag import embed
from alslm_ml.rag.index import COLLECTION, Hit, Store, open_store

MAX_QUESTION_CHARS = 20000  # a hard cap before tokenizing; the context-window cut comes later


def check_question(question) -> str:
    if not isinstance(question, str):
        raise ValueError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question is empty: ask something, e.g. 'What is riluzole?'")
    q = " ".join(question.split())
    if len(q) > MAX_QUESTION_CHARS:
        warnings.warn(f"question is {len(q)} characters; truncated to {MAX_QUESTION_CHARS}", stacklevel=3)
        q = q[:MAX_QUESTION_CHARS]
    return q


@dataclass
class RetrievalSettings:
    k: int = 5
    mode: str = "hybrid"  # hybrid | dense | sparse
    prefetch: int = 20
    rrf_k: int = 60
    sources: Sequence[str] | None = None


class Retriever:
    """Embeds queries with the same models the index was built with (recorded in its metadata)."""

    def __init__(self, store: Store | None = None, name: str = COLLECTION, root: Path | None = None,
                 dense_model: str | None = None, dense_model_path: str | None = None):
        self.store = store or open_store(name, root)
        meta = self.store.meta or {}
        self.dense = embed.dense_embedder(dense_model or meta.get("dense_model", embed.DENSE_MODEL),
                                          dense_model_path or meta.get("dense_model_path"))
        bm25 = meta.get("bm25_path")  # recorded at build time; rebuilt under data/ if moved
        self.sparse = embed.sparse_embedder(bm25 if bm25 and Path(bm25).exists() else None)

    def embed_query(self, question: str):
        d = next(iter(self.dense.query_embed([question])))
        s = next(iter(self.sparse.query_embed([question])))
        return d, (s.indices.tolist(), s.values.tolist())

    def search(self, question: str, settings: RetrievalSettings | None = None) -> list[Hit]:
        st = settings or RetrievalSettings()
        d, s = self.embed_query(check_question(question))
        return self.store.search(d, s, k=st.k, mode=st.mode, sources=st.sources, prefetch=st.prefetch, rrf_k=st.rrf_k)

    def close(self) -> None:
        self.store.close()
