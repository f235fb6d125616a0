"""Retrieval quality per question: which of a question's key facts appear in the retrieved chunks.
With it the evaluation can tell a retrieval failure (the fact was never retrieved) from a
generation failure (it was retrieved, and the answer still got it wrong)."""

from __future__ import annotations

from rapidfuzz import fuzz

WINDOW = 100
THRESHOLD = 80


def fact_in_text(fact: str, text: str, threshold: int = THRESHOLD, window: int = WINDOW) -> float:
    """Best rapidfuzz partial_ratio of `fact` over `window`-char windows of `text` (half-window
    stride, so a fact straddling a boundary is still seen whole)."""
    f, t = fact.lower().strip(), text.lower()
    if not f or not t:
        return 0.0
    if f in t:
        return 100.0
    width = max(window, len(f))
    step = max(1, width // 2)
    best = 0.0
    for i in range(0, max(1, len(t) - width + step), step):
        best = max(best, fuzz.partial_ratio(f, t[i : i + width]))
        if best >= 100:
            break
    return best


def retrieval_hits(question: str, key_facts: list[str], retrieved_chunks: list[str], threshold: int = THRESHOLD) -> dict:
    """{"question", "facts": [{"fact", "found", "score", "chunk"}], "found", "total", "recall"}:
    a fact is found when some retrieved chunk matches it at partial_ratio >= threshold; `chunk`
    is the index of the best chunk (None if none)."""
    facts = []
    for fact in key_facts:
        best, where = 0.0, None
        for i, chunk in enumerate(retrieved_chunks):
            s = fact_in_text(fact, chunk, threshold)
            if s > best:
                best, where = s, i
        found = best >= threshold
        facts.append({"fact": fact, "found": found, "score": round(best, 1), "chunk": where if found else None})
    n = sum(f["found"] for f in facts)
    return {"question": question, "facts": facts, "found": n, "total": len(facts),
            "recall": n / len(facts) if facts else None}
