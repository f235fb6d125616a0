"""The medical-terms lexicon (paths.MEDICAL_TERMS): the curated ALS/medical terms the tokenizer is
validated on and the corpus statistics count. One loader for the file, below both stages."""

from __future__ import annotations

from pathlib import Path

from alslm_ml import paths


def load_terms(path: str | Path = paths.MEDICAL_TERMS) -> list[tuple[str, str]]:
    """(category, term) pairs from the terms file: `# category` headers, one term per line."""
    terms, category = [], "uncategorised"
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            category = line.lstrip("#").strip() or category
            continue
        terms.append((category, line))
    seen = set()
    for _, t in terms:
        if t.lower() in seen:
            raise ValueError(f"{path}: duplicate term {t!r}")
        seen.add(t.lower())
    return terms
