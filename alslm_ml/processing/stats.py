"""Corpus statistics (design doc 2.3 step 6): size, distribution by source, lengths, vocabulary
and the most frequent medical terms, as a dict, a Markdown report and a bar chart."""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from alslm_ml.paths import REPO_ROOT

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']+")
# The tokenizer stage's validation list doubles as the medical lexicon for "top medical terms".
MEDICAL_TERMS = REPO_ROOT / "alslm_ml" / "tokenizer" / "medical_terms.txt"


def load_terms(path: Path = MEDICAL_TERMS) -> list[str]:
    if not path.exists():
        return []
    return [t.strip() for t in path.read_text().splitlines() if t.strip() and not t.startswith("#")]


def top_terms(texts: list[str], terms: list[str], n: int = 25) -> list[tuple[str, int]]:
    """Occurrences of each lexicon term (case-insensitive, whole words) across the texts."""
    blob = "\n".join(texts).lower()
    counts = {}
    for term in terms:
        k = len(re.findall(rf"(?<![\w-]){re.escape(term.lower())}(?![\w-])", blob))
        if k:
            counts[term] = k
    return Counter(counts).most_common(n)


def corpus_stats(df: pd.DataFrame, terms: list[str] | None = None) -> dict:
    """Statistics of a corpus table (columns source, text, n_tokens, optional split)."""
    terms = load_terms() if terms is None else terms
    df = df.assign(bytes=df["text"].str.encode("utf-8").str.len())
    by_source = (
        df.groupby("source")
        .agg(documents=("text", "size"), bytes=("bytes", "sum"), tokens=("n_tokens", "sum"), avg_tokens=("n_tokens", "mean"))
        .reset_index()
        .sort_values("bytes", ascending=False)
    )
    by_source["share"] = (by_source["bytes"] / max(1, by_source["bytes"].sum())).round(4)
    words = Counter(w.lower() for t in df["text"] for w in _WORD.findall(t))
    out = {
        "documents": len(df),
        "bytes": int(df["bytes"].sum()),
        "tokens": int(df["n_tokens"].sum()),
        "avg_tokens_per_document": float(round(df["n_tokens"].mean(), 1)) if len(df) else 0.0,
        "unique_words": len(words),
        "by_source": by_source.round({"avg_tokens": 1}).to_dict(orient="records"),
        "top_medical_terms": top_terms(df["text"].tolist(), terms) if terms else [],
        "top_words": words.most_common(25),
    }
    if "split" in df:
        out["by_split"] = df.groupby("split").agg(documents=("text", "size"), tokens=("n_tokens", "sum")).reset_index().to_dict(orient="records")
    return out


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
        "| source | documents | bytes | tokens | avg tokens | share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['source']} | {r['documents']:,} | {r['bytes']:,} | {r['tokens']:,} | {r['avg_tokens']:,} | {r['share']:.1%} |"
        for r in stats["by_source"]
    ]
    if stats.get("by_split"):
        lines += ["", "## By split", "", "| split | documents | tokens |", "|---|---:|---:|"]
        lines += [f"| {r['split']} | {r['documents']:,} | {r['tokens']:,} |" for r in stats["by_split"]]
    if stats["top_medical_terms"]:
        lines += ["", "## Top medical terms", "", "| term | occurrences |", "|---|---:|"]
        lines += [f"| {t} | {c:,} |" for t, c in stats["top_medical_terms"]]
    return "\n".join(lines) + "\n"


def stats_chart_png(stats: dict) -> bytes:
    """Bar chart of megabytes per source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = stats["by_source"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([r["source"] for r in rows], [r["bytes"] / 1e6 for r in rows], color="#4C72B0")
    ax.set_ylabel("MB of clean text")
    ax.set_title("Corpus by source")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png: bytes, alt: str = "chart") -> str:
    """Inline a PNG into Markdown (the Dagster UI renders data URIs)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
