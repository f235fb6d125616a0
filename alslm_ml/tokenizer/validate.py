"""Tokenizer validation against a curated list of ALS/medical terms (design doc 3.2).

Each term is encoded as it appears in running text, i.e. after a space (" riluzole"): byte-level
BPE folds the leading space into the word token, so that is the form the model actually sees.
A multi-word term ("upper motor neuron") is judged word by word: three whole-word tokens are
ideal, so a term is *flagged* when any of its words breaks into more than `max_tokens` pieces.
Hyphens separate words too ("TDP-43", "genome-wide"): the byte-level pre-tokenizer always splits
punctuation off, so a hyphenated compound can never be fewer than three tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenizers import Tokenizer

from alslm_ml import markdown


@dataclass
class TermResult:
    category: str
    term: str
    tokens: list[str]
    max_word_tokens: int
    flagged: bool


def check_terms(tok: Tokenizer, terms: list[tuple[str, str]], max_tokens: int = 2) -> list[TermResult]:
    out = []
    for category, term in terms:
        pieces = tok.encode(" " + term).tokens
        words = [w for w in re.split(r"[\s-]+", term) if w]
        per_word = [len(tok.encode(" " + w).ids) for w in words]
        worst = max(per_word)
        out.append(TermResult(category, term, pieces, worst, worst > max_tokens))
    return out


_WORD = re.compile(r"\S+")


def tokenization_counts(tok: Tokenizer, texts: list[str]) -> dict[str, int]:
    """Tokens, whitespace words and characters of `texts` (add them up over batches)."""
    n_tok = n_words = n_chars = 0
    for enc, text in zip(tok.encode_batch(texts), texts):
        n_tok += len(enc.ids)
        n_words += len(_WORD.findall(text))
        n_chars += len(text)
    return {"tokens": n_tok, "words": n_words, "chars": n_chars}


def stats_from_counts(c: dict[str, int]) -> dict[str, float]:
    return {
        "tokens": c["tokens"],
        "fertility": c["tokens"] / max(c["words"], 1),
        "chars_per_token": c["chars"] / max(c["tokens"], 1),
    }


def tokenization_stats(tok: Tokenizer, texts: list[str]) -> dict[str, float]:
    """Fertility (tokens per whitespace word) and compression (characters per token)."""
    return stats_from_counts(tokenization_counts(tok, texts))


def worst_terms_markdown(results: list[TermResult], n: int = 15) -> str:
    rows = sorted(results, key=lambda r: (-r.max_word_tokens, -len(r.tokens), r.term))[:n]
    cells = []
    for r in rows:
        pieces = " · ".join(p.replace("Ġ", "␣") for p in r.tokens).replace("|", "\\|")
        cells.append([r.term, r.category, len(r.tokens), f"`{pieces}`"])
    return markdown.table(["term", "category", "tokens", "pieces"], cells)


def summarize_terms(results: list[TermResult]) -> dict:
    n = len(results)
    flagged = [r for r in results if r.flagged]
    return {
        "n_terms": n,
        "n_flagged": len(flagged),
        "flagged_fraction": len(flagged) / max(n, 1),
        "mean_tokens_per_term": sum(len(r.tokens) for r in results) / max(n, 1),
        "single_token_words": sum(1 for r in results if r.max_word_tokens == 1),
    }
