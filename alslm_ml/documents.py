"""The raw document schema every source produces (design doc 2.1)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

SOURCES = ("pubmed", "clinicaltrials", "educational", "narratives", "supplementary", "starter")

# Column order of the raw_documents / clean_documents tables. `metadata` is stored as JSON text.
RAW_COLUMNS = ["id", "source", "url", "title", "text", "date_accessed", "license", "metadata"]


@dataclass
class Document:
    id: str
    source: str
    url: str
    title: str
    text: str
    date_accessed: str  # ISO date, e.g. "2026-11-22"
    license: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"document {self.id!r}: unknown source {self.source!r} (expected one of {SOURCES})")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["metadata"] = json.dumps(self.metadata, ensure_ascii=False, sort_keys=True)
        return row


def to_frame(docs: list[Document]) -> pd.DataFrame:
    """Documents as a DataFrame with RAW_COLUMNS (metadata as JSON text)."""
    return pd.DataFrame([d.to_row() for d in docs], columns=RAW_COLUMNS)

