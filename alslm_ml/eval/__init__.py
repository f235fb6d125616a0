"""Hallucination evaluation: the benchmark, scoring, fabrication detection, failure taxonomy, the
runner behind the eval_* assets and `alslm eval`, and the manual-review tool (`alslm review`).

See docs/evaluation.md for the scoring rules.
"""

from alslm_ml.eval.benchmark import (
    CATEGORIES,
    DIFFICULTIES,
    BenchmarkError,
    Question,
    load_benchmark,
    stratified_sample,
)
from alslm_ml.eval.entities import Registry, build_registry, extract_entities
from alslm_ml.eval.runner import evaluate, summarize_scores
from alslm_ml.eval.scoring import coherence, hedging_markers, is_refusal, match_key_facts, score_answer
from alslm_ml.eval.taxonomy import FAILURE_MODES, LABELS, classify

__all__ = [
    "CATEGORIES", "DIFFICULTIES", "BenchmarkError", "Question", "load_benchmark", "stratified_sample",
    "Registry", "build_registry", "extract_entities", "evaluate", "summarize_scores", "coherence",
    "hedging_markers", "is_refusal", "match_key_facts", "score_answer", "FAILURE_MODES", "LABELS", "classify",
]
