"""The starter corpus: the offline embedded default shipped in the repo.

Markdown files at starter/docs/<category>/<slug>.md with YAML front matter (id, title, category
= folder name, license, author, references) followed by the prose body. Every file is validated
before any document is produced; an error names the file and the field, and duplicate ids name
both files, so a broken contribution is fixed at its source rather than downstream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from alslm_ml import paths
from alslm_ml.documents import Document

SOURCE = "starter"
DEFAULT_DIR = paths.STARTER_DOCS
REQUIRED = {"id": str, "title": str, "category": str, "license": str, "author": str, "references": list}


class StarterError(ValueError):
    """A starter document is malformed; the message names the file and the field."""


def split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    if not text.startswith("---"):
        raise StarterError(f"{path}: no YAML front matter (the file must start with '---')")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise StarterError(f"{path}: front matter is not closed by a '---' line")
    head, body = parts[0].removeprefix("---"), parts[1]
    body = body.split("\n", 1)[1] if "\n" in body else ""
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        raise StarterError(f"{path}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise StarterError(f"{path}: front matter must be a mapping of fields")
    return meta, body.strip()


def parse_file(path: Path, today: str) -> tuple[str, Document]:
    """(front-matter id, Document) for one file; raises StarterError naming file and field."""
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path)
    for key, typ in REQUIRED.items():
        value = meta.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise StarterError(f"{path}: field {key!r} is missing or empty")
        if not isinstance(value, typ):
            raise StarterError(f"{path}: field {key!r} must be a {typ.__name__}, got {type(value).__name__}")
    if not all(isinstance(r, str) and r.strip() for r in meta["references"]):
        raise StarterError(f"{path}: field 'references' must be a list of non-empty strings")
    category, slug = path.parent.name, path.stem
    if meta["category"] != category:
        raise StarterError(f"{path}: field 'category' is {meta['category']!r} but the file is in folder {category!r}")
    if not body:
        raise StarterError(f"{path}: the document has no body text after the front matter")
    doc = Document(
        id=f"starter:{slug}",
        source=SOURCE,
        url=f"alslm://starter/{category}/{slug}",
        title=meta["title"].strip(),
        text=body,
        date_accessed=today,
        license=meta["license"].strip(),
        metadata={"category": category, "references": meta["references"], "author": meta["author"].strip()},
    )
    return str(meta["id"]).strip(), doc


def load_starter(root: str | Path | None = None, today: str | None = None) -> list[Document]:
    """Every starter document under root (default: the shipped docs), sorted by id."""
    root = Path(root) if root else DEFAULT_DIR
    if not root.is_dir():
        raise StarterError(f"{root}: starter docs folder not found")
    today = today or datetime.now(UTC).date().isoformat()
    by_id: dict[str, Path] = {}
    by_doc_id: dict[str, Path] = {}
    docs = []
    for path in sorted(root.glob("*/*.md")):
        fm_id, doc = parse_file(path, today)
        for key, seen in ((fm_id, by_id), (doc.id, by_doc_id)):
            if key in seen:
                raise StarterError(f"duplicate id {key!r}: {seen[key]} and {path}")
            seen[key] = path
        doc.metadata["starter_id"] = fm_id
        docs.append(doc)
    return sorted(docs, key=lambda d: d.id)
