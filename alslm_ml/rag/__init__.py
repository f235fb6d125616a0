"""Retrieval baseline: hybrid (dense + BM25, RRF) Qdrant index over the corpus and grounded,
cited answers. See docs/retrieval.md."""
