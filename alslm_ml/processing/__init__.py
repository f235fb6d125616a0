"""Corpus processing (design doc 2.3): clean -> deduplicate -> split -> statistics.

Each step is a small pure function over documents (dicts with the raw schema) that returns the
kept documents plus a record of what it removed and why, so every removal is explainable.
"""

from alslm_ml.processing.clean import CleanReport, clean_document, clean_documents, count_tokens
from alslm_ml.processing.dedup import DedupResult, dedup_documents
from alslm_ml.processing.split import find_leakage, split_documents
from alslm_ml.processing.stats import corpus_stats

__all__ = [
    "CleanReport",
    "DedupResult",
    "clean_document",
    "clean_documents",
    "corpus_stats",
    "count_tokens",
    "dedup_documents",
    "find_leakage",
    "split_documents",
]
