"""Split documents into overlapping token windows that keep their character offsets.

Tokens are counted with the embedding model's tokenizer, so a chunk of `chunk_tokens` tokens is
exactly what the dense model sees. Every chunk is `text[start:end]` of its document, which is what
lets a citation point back at the exact passage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

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


def _word_start(text: str, pos: int) -> int:
    """Move a cut point back to the start of the word it falls in (WordPiece splits words)."""
    while pos > 0 and text[pos - 1].isalnum() and text[pos].isalnum():
        pos -= 1
    return pos


def chunk_text(text: str, tokenizer, chunk_tokens: int = 512, overlap: int = 64) -> list[tuple[int, int, int]]:
    """(start, end, n_tokens) character spans of windows of `chunk_tokens` tokens, each starting
    `chunk_tokens - overlap` tokens after the previous one."""
    if chunk_tokens <= 0 or not 0 <= overlap < chunk_tokens:
        raise ValueError(f"chunking: need chunk_tokens > 0 and 0 <= overlap < chunk_tokens, got {chunk_tokens}/{overlap}")
    offsets = [o for o in tokenizer.encode(text, add_special_tokens=False).offsets if o[1] > o[0]]
    if not offsets:
        return []
    spans, step = [], chunk_tokens - overlap
    for first in range(0, len(offsets), step):
        window = offsets[first : first + chunk_tokens]
        start = _word_start(text, window[0][0]) if first else 0
        spans.append((start, window[-1][1], len(window)))
        if first + chunk_tokens >= len(offsets):
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
