"""Reference-overlap metrics of seed 002 (section 7): ROUGE-1/2/L F1 (rouge-score, stemmed),
corpus BLEU (sacrebleu, reported on a 0-1 scale like the seed) and perplexity = exp(mean answer-
token cross-entropy). ROUGE/BLEU measure wording overlap, not correctness."""

from __future__ import annotations

import math

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

_SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 over the pairs."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"rouge: {len(predictions)} predictions vs {len(references)} references")
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in zip(predictions, references):
        for key, score in _SCORER.score(ref, pred).items():
            totals[key] += score.fmeasure
    return {k: v / len(predictions) for k, v in totals.items()}


def bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU in [0, 1] (sacrebleu's default 13a tokenization, exponential smoothing)."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"bleu: {len(predictions)} predictions vs {len(references)} references")
    return BLEU().corpus_score(predictions, [references]).score / 100.0


def perplexity(mean_loss: float) -> float:
    return math.exp(mean_loss)


def text_metrics(predictions: list[str], references: list[str]) -> dict[str, float]:
    return {**rouge(predictions, references), "bleu": bleu(predictions, references)}
