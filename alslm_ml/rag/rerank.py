"""SmolLM2 as a zero-shot judge of which sentence answers a question ("UPR": Sachan et al. 2022,
"Improving Passage Retrieval with Zero-Shot Question Generation").

No cross-encoder can be installed or downloaded here, but the answer model is already on disk. A
sentence that answers a question makes that question likely: the judge scores each candidate
sentence s by the mean log-probability of the QUESTION's tokens after a prompt holding s,
log P(q | s) / |q|. Only the top `top` sentences of the term ranking are judged (one forward pass
of ~60-90 tokens each), and their judge scores, z-normalised within the question, are added to the
term score with weight `weight` (`weight=inf`: the judge alone orders them).

    judge = LMJudge()                                   # SmolLM2-135M-Instruct GGUF
    judge.question_logprob("What does tofersen target?", ["Tofersen targets SOD1 mRNA.", "..."])
    select_sentences(q, passages, 128, count, judge=judge.reranker(q, weight=math.inf, top=4))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from alslm_ml.runtime.llamacpp import LlamaCppScorer

# Prompt forms: the text before the question; the question follows it (after a space in "plain").
PROMPTS = {
    # the UPR paper's wording
    "plain": "Passage: {s}\nPlease write a question based on this passage.\nQuestion:",
    # the same as a chat turn, so the instruct model answers in its own format
    "chat": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nPassage: {s}\nPlease write a question based on this passage.<|im_end|>\n"
            "<|im_start|>assistant\n",
    # a question the sentence answers, in the medical domain
    "answers": "This sentence is from an article about ALS (amyotrophic lateral sclerosis): {s}\n"
               "A question that this sentence answers:",
}
MAX_SENTENCE_TOKENS = 64  # a longer sentence is judged on its first 64 tokens (bounds the cost)


class LMJudge:
    """log P(question | sentence) from SmolLM2 (or another GGUF), through the llama.cpp scoring
    runtime (its own small context, so judging never disturbs the generator)."""

    def __init__(self, model_path: str | Path | None = None, prompt: str = "plain", n_ctx: int = 512,
                 n_threads: int | None = None):
        if prompt not in PROMPTS:
            raise ValueError(f"judge prompt {prompt!r}: expected one of {sorted(PROMPTS)}")
        self.scorer = LlamaCppScorer(model_path, n_ctx=n_ctx, n_threads=n_threads)
        self.model_path, self.prompt, self.n_ctx = self.scorer.path, prompt, n_ctx
        self.cache: dict[tuple[str, str], float] = {}

    def _sentence(self, s: str) -> str:
        toks = self.scorer.encode(s, special=False)
        return s if len(toks) <= MAX_SENTENCE_TOKENS else self.scorer.decode(toks[:MAX_SENTENCE_TOKENS])

    def logprob(self, prefix: str, target: str) -> float:
        """Mean log-probability of `target`'s tokens after `prefix`."""
        return self.scorer.mean_logprob(prefix, target)

    def question_logprob(self, question: str, sentences: list[str]) -> list[float]:
        """log P(question | sentence) / |question| for each sentence (cached by the pair)."""
        form = PROMPTS[self.prompt]
        target = question.strip() if self.prompt == "chat" else " " + question.strip()
        out = []
        for s in sentences:
            key = (question, s)
            if key not in self.cache:
                self.cache[key] = self.logprob(form.format(s=self._sentence(s)), target)
            out.append(self.cache[key])
        return out

    def reranker(self, question: str, weight: float = 1.0, top: int = 16) -> Callable[[list], None]:
        """A `judge` for grounding.select_sentences (see `rerank`)."""
        return lambda ranked: rerank(ranked, lambda texts: self.question_logprob(question, texts), weight, top)

    def close(self) -> None:
        self.scorer.close()


def zscores(xs: list[float]) -> list[float]:
    if len(xs) < 2:
        return [0.0] * len(xs)
    mu = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / len(xs))
    return [(x - mu) / sd if sd > 1e-9 else 0.0 for x in xs]


def rerank(ranked: list, judge: Callable[[list[str]], list[float]], weight: float, top: int) -> None:
    """Add weight * z(judge score) to the `top` best-scored sentences that match the question at
    all (score > 0.01), in place; with weight = inf the judge alone orders them, above the rest.
    The others keep their term score, so an answer never quotes an unrelated sentence first."""
    cands = sorted((s for s in ranked if s.score > 0.01), key=lambda s: -s.score)[:top]
    if len(cands) < 2:
        return
    z = zscores(judge([s.text for s in cands]))
    if math.isinf(weight):
        judged = {id(s) for s in cands}
        floor = max([s.score for s in ranked if id(s) not in judged] + [0.0])
        for s, zi in zip(cands, z):
            s.score = floor + 10.0 + zi  # z >= -sqrt(n): stays above the unjudged ones
    else:
        for s, zi in zip(cands, z):
            s.score = max(0.02, s.score + weight * zi)  # still a match: above the 0.01 floor
