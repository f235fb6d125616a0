"""Split documents into overlapping token windows that keep their character offsets.

Tokens are counted with the embedding model's tokenizer, so a chunk of `chunk_tokens` tokens is
exactly what the dense model sees. Every chunk is `text[start:end]` of its document, which is what
lets a citation point back at the exact passage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import pandas as pd

CORPUS_COLUMNS = ["id", "source", "url", "title", "text", "license"]


@dataclass
class Chunk:
    doc_id: str
    chunk_index: int
    title: str
    source: str
    url: str
    license: str
    start: int  # character offsets into the document text
    end: int
    n_tokens: int
    text: str

    def payload(self) -> dict:
        return asdict(self)


def _word_starts(text: str, offsets: list[tuple[int, int]]) -> list[bool]:
    """Whether each token begins a word (WordPiece splits words into several tokens)."""
    out = [True]
    for (_, prev_end), (start, _) in zip(offsets, offsets[1:]):
        glued = start == prev_end and text[start].isalnum() and text[prev_end - 1].isalnum()
        out.append(not glued)
    return out


def chunk_text(text: str, tokenizer, chunk_tokens: int = 512, overlap: int = 64) -> list[tuple[int, int, int]]:
    """(start, end, n_tokens) character spans of windows of `chunk_tokens` tokens, each starting
    `chunk_tokens - overlap` tokens after the previous one."""
    if chunk_tokens <= 0 or not 0 <= overlap < chunk_tokens:
        raise ValueError(f"chunking: need chunk_tokens > 0 and 0 <= overlap < chunk_tokens, got {chunk_tokens}/{overlap}")
    offsets = [o for o in tokenizer.encode(text, add_special_tokens=False).offsets if o[1] > o[0]]
    if not offsets:
        return []
    starts = _word_starts(text, offsets) + [True]
    spans, step, n = [], chunk_tokens - overlap, len(offsets)
    for first in range(0, n, step):
        lo, hi = first, min(first + chunk_tokens, n)  # tokens [lo, hi)
        # Cut on word boundaries: drop a leading word fragment (the previous window holds the
        # word whole) and a trailing one (the next window does), unless the window is one word.
        a = next((i for i in range(lo, hi) if starts[i]), lo) if first else 0
        b = next((i for i in range(hi, a, -1) if starts[i]), hi)
        lo, hi = (a, b) if a < b else (lo, hi)
        spans.append((0 if first == 0 else offsets[lo][0], offsets[hi - 1][1], hi - lo))
        if first + chunk_tokens >= n:
            break
    return spans


def chunk_documents(
    docs: pd.DataFrame | Iterable[dict], tokenizer, chunk_tokens: int = 512, overlap: int = 64
) -> Iterator[Chunk]:
    """Chunks of every document of a `corpus`-shaped table (id, source, url, title, text, license)."""
    rows = docs.to_dict("records") if isinstance(docs, pd.DataFrame) else docs
    for i, row in enumerate(rows):
        missing = [c for c in CORPUS_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"corpus row {i} (id={row.get('id')!r}): missing column(s) {missing}")
        text = row["text"]
        if not isinstance(text, str):
            raise ValueError(f"corpus document {row['id']!r}: field 'text' is {type(text).__name__}, expected str")
        for n, (start, end, n_tok) in enumerate(chunk_text(text, tokenizer, chunk_tokens, overlap)):
            yield Chunk(
                doc_id=str(row["id"]),
                chunk_index=n,
                title=str(row["title"] or ""),
                source=str(row["source"] or ""),
                url=str(row["url"] or ""),
                license=str(row["license"] or ""),
                start=start,
                end=end,
                n_tokens=n_tok,
                text=text[start:end],
            )
