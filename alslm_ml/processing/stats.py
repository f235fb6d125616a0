"""Corpus statistics (design doc 2.3 step 6): size, distribution by source, lengths, vocabulary
and the most frequent medical terms, as a dict, a Markdown report and a bar chart."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from alslm_ml import markdown
from alslm_ml.terms import load_terms as load_term_entries

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']+")


def load_terms() -> list[str]:
    """The tokenizer stage's validation list (paths.MEDICAL_TERMS), read by its one loader, doubles
    as the medical lexicon for "top medical terms"."""
    return [term for _, term in load_term_entries()]


def count_term(blob: str, term: str) -> int:
    r"""Occurrences of `term` in `blob` with no word character or hyphen on either side, counted
    like `re.findall(rf"(?<![\w-]){re.escape(term)}(?![\w-])", blob)` but with `str.find`."""
    n, i, k = 0, blob.find(term), len(term)
    while i != -1:
        before = blob[i - 1] if i else " "
        after = blob[i + k] if i + k < len(blob) else " "
        if not (before.isalnum() or before in "_-" or after.isalnum() or after in "_-"):
            n += 1
            i = blob.find(term, i + k)
        else:
            i = blob.find(term, i + 1)
    return n


_RUN = re.compile(r"[\w-]+")
_ONE_RUN = re.compile(r"^[\w-]+$")


def top_terms(texts: list[str], terms: list[str], n: int = 25) -> list[tuple[str, int]]:
    """Occurrences of each lexicon term (case-insensitive, whole words) across the texts."""
    acc = StatsAccumulator(terms)
    acc.add_terms(texts)
    return acc.top_terms(n)


def _round(x: float, digits: int) -> float:
    return float(np.round(x, digits))  # numpy's rounding, as pandas rounds


class StatsAccumulator:
    """Corpus statistics over batches of rows (source, text, n_tokens, optional split): only the
    counters grow (one entry per distinct word), never the texts."""

    def __init__(self, terms: list[str] | None = None):
        self.terms = load_terms() if terms is None else terms
        self.single = {t.lower(): t for t in self.terms if _ONE_RUN.match(t.lower())}
        self.multi = [t for t in self.terms if not _ONE_RUN.match(t.lower())]
        self.term_counts: Counter = Counter()
        self.words: Counter = Counter()
        self.by_source: dict[str, list[int]] = {}  # source -> [documents, bytes, tokens]
        self.by_split: dict[str, list[int]] = {}  # split -> [documents, tokens]

    def add_terms(self, texts: list[str]) -> None:
        blob = "\n".join(texts).lower()
        runs = Counter(_RUN.findall(blob))
        for low, term in self.single.items():
            if runs[low]:
                self.term_counts[term] += runs[low]
        for term in self.multi:
            low = term.lower()
            if low in blob:
                self.term_counts[term] += count_term(blob, low)

    def add(self, rows: list[dict]) -> None:
        texts = [r["text"] for r in rows]
        for r in rows:
            s = self.by_source.setdefault(r["source"], [0, 0, 0])
            s[0] += 1
            s[1] += len(r["text"].encode("utf-8"))
            s[2] += int(r["n_tokens"])
            if r.get("split") is not None:
                p = self.by_split.setdefault(r["split"], [0, 0])
                p[0] += 1
                p[1] += int(r["n_tokens"])
        for w, c in Counter(_WORD.findall("\n".join(texts))).items():
            self.words[w.lower()] += c
        if self.terms:
            self.add_terms(texts)

    def merge(self, other: StatsAccumulator) -> None:
        """Add a batch's counters (computed in a worker) to these."""
        self.term_counts.update(other.term_counts)
        self.words.update(other.words)
        for src, v in other.by_source.items():
            mine = self.by_source.setdefault(src, [0, 0, 0])
            for i, x in enumerate(v):
                mine[i] += x
        for split, v in other.by_split.items():
            mine = self.by_split.setdefault(split, [0, 0])
            for i, x in enumerate(v):
                mine[i] += x

    def top_terms(self, n: int = 25) -> list[tuple[str, int]]:
        # the order of a plain pass over the lexicon, most frequent first (as Counter.most_common)
        counts = {t: self.term_counts[t] for t in self.terms if self.term_counts[t]}
        return Counter(counts).most_common(n)

    def result(self) -> dict:
        docs = sum(v[0] for v in self.by_source.values())
        size = sum(v[1] for v in self.by_source.values())
        tokens = sum(v[2] for v in self.by_source.values())
        by_source = [
            {"source": s, "documents": d, "bytes": b, "tokens": t, "avg_tokens": _round(t / d, 1), "share": _round(b / max(1, size), 4)}
            for s, (d, b, t) in sorted(self.by_source.items(), key=lambda kv: (-kv[1][1], kv[0]))
        ]
        out = {
            "documents": docs,
            "bytes": size,
            "tokens": tokens,
            "avg_tokens_per_document": _round(tokens / docs, 1) if docs else 0.0,
            "unique_words": len(self.words),
            "by_source": by_source,
            "top_medical_terms": self.top_terms() if self.terms else [],
            "top_words": self.words.most_common(25),
        }
        if self.by_split:
            out["by_split"] = [{"split": k, "documents": d, "tokens": t} for k, (d, t) in sorted(self.by_split.items())]
        return out


def corpus_stats(df, terms: list[str] | None = None) -> dict:
    """Statistics of a corpus (columns source, text, n_tokens, optional split): a DataFrame, or an
    iterable of row batches (what the corpus_stats asset streams from DuckDB)."""
    acc = StatsAccumulator(terms)
    batches = [df.to_dict(orient="records")] if hasattr(df, "to_dict") else df  # a DataFrame, or batches
    for rows in batches:
        acc.add(rows)
    return acc.result()


def stats_markdown(stats: dict) -> str:
    lines = [
        "# Corpus statistics",
        "",
        f"- Documents: {stats['documents']:,}",
        f"- Size: {stats['bytes'] / 1e6:,.2f} MB ({stats['bytes']:,} bytes)",
        f"- Tokens (words and punctuation): {stats['tokens']:,}",
        f"- Average document length: {stats['avg_tokens_per_document']:,} tokens",
        f"- Unique words: {stats['unique_words']:,}",
        "",
        "## By source",
        "",
        markdown.table(["source", "documents", "bytes", "tokens", "avg tokens", "share"],
                       [[r["source"], f"{r['documents']:,}", f"{r['bytes']:,}", f"{r['tokens']:,}", f"{r['avg_tokens']:,}",
                         f"{r['share']:.1%}"] for r in stats["by_source"]], "lrrrrr"),
    ]
    if stats.get("by_split"):
        lines += ["", "## By split", "", markdown.table(
            ["split", "documents", "tokens"],
            [[r["split"], f"{r['documents']:,}", f"{r['tokens']:,}"] for r in stats["by_split"]], "lrr")]
    if stats["top_medical_terms"]:
        lines += ["", "## Top medical terms", "", markdown.table(
            ["term", "occurrences"], [[t, f"{c:,}"] for t, c in stats["top_medical_terms"]], "lr")]
    return "\n".join(lines) + "\n"


def stats_chart_png(stats: dict) -> bytes:
    """Bar chart of megabytes per source."""
    plt = markdown.pyplot()
    rows = stats["by_source"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([r["source"] for r in rows], [r["bytes"] / 1e6 for r in rows], color="#4C72B0")
    ax.set_ylabel("MB of clean text")
    ax.set_title("Corpus by source")
    fig.tight_layout()
    return markdown.figure_png(fig, dpi=100)
