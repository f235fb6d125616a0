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

import numpy as np

from alslm_ml.rag.generator import smollm2_gguf
from alslm_ml.threads import llama_threads

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


def _log_softmax_at(rows: np.ndarray, ids: list[int]) -> np.ndarray:
    """log p(ids[i]) under logits rows[i]."""
    m = rows.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(rows - m).sum(axis=1)))
    return rows[np.arange(len(ids)), ids] - lse


class LMJudge:
    """log P(question | sentence) from SmolLM2 (or another GGUF) through llama.cpp. Its own instance
    (a small context, opened from the same GGUF as the generator): the judge decodes with its own
    batch flags and clears the cache between sentences, which must not disturb generation."""

    def __init__(self, model_path: str | Path | None = None, prompt: str = "plain", n_ctx: int = 512,
                 n_threads: int | None = None):
        from llama_cpp import Llama

        if prompt not in PROMPTS:
            raise ValueError(f"judge prompt {prompt!r}: expected one of {sorted(PROMPTS)}")
        self.model_path = Path(model_path) if model_path else smollm2_gguf()
        self.prompt, self.n_ctx = prompt, n_ctx
        self.llm = Llama(model_path=str(self.model_path), n_ctx=n_ctx, n_batch=n_ctx, verbose=False,
                         n_threads=n_threads or llama_threads(self.model_path))
        self.cache: dict[tuple[str, str], float] = {}
        self._kv: list[int] = []  # the tokens in llama.cpp's cache

    def _tok(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _sentence(self, s: str) -> str:
        toks = self.llm.tokenize(s.encode("utf-8"), add_bos=False, special=False)
        if len(toks) <= MAX_SENTENCE_TOKENS:
            return s
        return self.llm.detokenize(toks[:MAX_SENTENCE_TOKENS]).decode("utf-8", errors="ignore")

    def logprob(self, prefix: str, target: str) -> float:
        """Mean log-probability of `target`'s tokens after `prefix`: one decode of prefix + target
        with output rows requested only at the target's positions (the vocabulary projection of
        the other ~50 tokens would cost a quarter of the pass; llama.cpp's batch flags allow it)."""
        head, tail = self._tok(prefix), self._tok(target)
        if not tail:
            return 0.0
        toks = (head + tail)[-self.n_ctx:]
        n_head = len(toks) - len(tail)
        if n_head < 1:
            raise ValueError(f"question of {len(tail)} tokens does not fit the judge's {self.n_ctx}-token context")
        llm = self.llm
        # the prompt's opening words are the same for every sentence: their cache is kept
        keep = min(n_head - 1, next((i for i, (a, b) in enumerate(zip(self._kv, toks)) if a != b), len(self._kv)))
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        llm._batch.set_batch(toks[keep:], n_past=keep, logits_all=False)
        for i in range(n_head - 1 - keep, len(toks) - keep):
            llm._batch.batch.logits[i] = True
        llm._ctx.decode(llm._batch)
        self._kv = toks
        n_vocab = llm.n_vocab()
        rows = np.stack([np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,))
                         for i in range(n_head - 1 - keep, len(toks) - 1 - keep)]).astype(np.float64)
        return float(_log_softmax_at(rows, tail).mean())

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
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None


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
