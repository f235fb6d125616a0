"""Resumable storage of scraped documents: data/raw/<source>/<id>.json, one file per document.

A document is written (atomically, fsynced) the moment it arrives, and the item it came from is
then recorded in `_index.jsonl`; a killed run loses at most the item in flight, and the next run
skips every indexed item whose documents are still on disk (delete a document file and its item
is fetched again). File names carry a hash of the exact id, so two ids never share a file. Quarantined items are logged to `_quarantine.jsonl` but not indexed,
so they are retried next run (a 503 today may be a 200 tomorrow).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alslm_ml import jsonl
from alslm_ml.documents import Document

QUARANTINE_COLUMNS = ["source", "item_id", "reason", "excerpt", "time"]
EXCERPT_CHARS = 500


def safe_name(doc_id: str) -> str:
    """The readable file name of a document id (`pubmed:PMC123:abstract` -> `pubmed_PMC123_abstract`).
    Not unique (`a/b`, `a_b` and `a:b` share it): Spool falls back to hashed_name on a clash."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", doc_id).strip("_")[:120]


def hashed_name(doc_id: str) -> str:
    """The readable part plus a hash of the exact id (`a:b` -> `a_b-1f3c9a2b0d`)."""
    return f"{safe_name(doc_id)[:80]}-{hashlib.sha256(doc_id.encode('utf-8')).hexdigest()[:10]}"


def _id_in(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("id")
    except (OSError, ValueError, AttributeError):
        return None


def excerpt(payload: str | bytes | None) -> str:
    if payload is None:
        return ""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    return payload[:EXCERPT_CHARS]


@dataclass
class ScrapeReport:
    """What one run of one source did; becomes asset metadata and the CLI summary."""

    source: str
    written: int = 0  # documents written this run
    skipped: int = 0  # items already fetched by an earlier run
    quarantined: int = 0
    licence_filtered: int = 0
    robots_blocked: int = 0
    bytes: int = 0  # UTF-8 bytes of text written this run
    capped: bool = False
    pii: Counter = field(default_factory=Counter)
    licence_filtered_by: Counter = field(default_factory=Counter)
    quarantine: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("quarantine")
        d["pii"], d["licence_filtered_by"] = dict(self.pii), dict(self.licence_filtered_by)
        return d


class Spool:
    """One source's folder of spooled documents plus its item index and quarantine log."""

    def __init__(self, root: str | Path, source: str):
        self.source = source
        self.dir = Path(root) / source
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "_index.jsonl"
        self.quarantine_path = self.dir / "_quarantine.jsonl"
        self._done: dict[str, dict] = {}
        if self.index_path.exists():
            # a line cut by a kill is passed over: that item is simply fetched again
            for _, rec in jsonl.records(self.index_path, skip_bad=True):
                if "item" in rec:
                    self._done[rec["item"]] = rec
        # An item whose document file is gone (deleted because it was corrupt, or lost) is
        # fetched again: the index says what was fetched, the files say what is kept.
        for item, rec in list(self._done.items()):
            if rec.get("status") == "written" and not all(self._has_file(d) for d in rec.get("docs", [])):
                del self._done[item]

    def _has_file(self, doc_id: str) -> bool:
        return any((self.dir / f"{n}.json").exists() for n in (safe_name(doc_id), hashed_name(doc_id)))

    def path_for(self, doc_id: str) -> Path:
        """The document's file: its readable name unless another id holds that file (then the
        hashed name), so two ids never overwrite each other."""
        for name in (safe_name(doc_id), hashed_name(doc_id)):
            path = self.dir / f"{name}.json"
            if not path.exists() or _id_in(path) == doc_id:
                return path
        raise ValueError(f"{self.dir}: no free file name for document {doc_id!r} ({path} holds another id)")

    def done(self, item_id: str) -> bool:
        return item_id in self._done

    def _append(self, path: Path, rec: dict) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write(self, item_id: str, docs: list[Document]) -> int:
        """Write docs atomically, then mark the item done; returns UTF-8 bytes of text written."""
        ids = [d.id for d in docs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"item {item_id!r}: duplicate document ids {sorted({i for i in ids if ids.count(i) > 1})}")
        nbytes = 0
        for doc in docs:
            if doc.source != self.source:
                raise ValueError(f"document {doc.id!r} has source {doc.source!r}, spool is {self.source!r}")
            path = self.path_for(doc.id)
            tmp = path.with_suffix(".json.tmp")
            with tmp.open("w", encoding="utf-8") as f:  # data first, on disk before the index names it
                f.write(json.dumps(asdict(doc), ensure_ascii=False, indent=1))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            nbytes += len(doc.text.encode("utf-8"))
        self.mark(item_id, "written", docs=[d.id for d in docs])
        return nbytes

    def mark(self, item_id: str, status: str, **extra) -> None:
        """Record an item as handled (written, or licence-filtered) so later runs skip it."""
        rec = {"item": item_id, "status": status, **extra}
        self._append(self.index_path, rec)
        self._done[item_id] = rec

    def quarantine(self, item_id: str, reason: str, payload: str | bytes | None = None) -> dict:
        row = {
            "source": self.source,
            "item_id": item_id,
            "reason": reason,
            "excerpt": excerpt(payload),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._append(self.quarantine_path, row)
        return row

    def documents(self) -> list[Document]:
        """Every spooled document of this source, sorted by id (the partition's content)."""
        docs = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                docs.append(Document(**json.loads(path.read_text(encoding="utf-8"))))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: not a valid spooled document ({exc}); delete it and scrape again "
                                 "(its item is fetched again)") from None
        return sorted(docs, key=lambda d: d.id)


class Run:
    """The bookkeeping every scraper shares: skip done items, write, quarantine, filter, cap."""

    def __init__(self, spool: Spool, max_docs: int = 0, today: str | None = None, progress=None):
        self.spool, self.max_docs = spool, max_docs
        self.report = ScrapeReport(spool.source)
        self.today = today or datetime.now(UTC).date().isoformat()
        self.progress = progress  # a tqdm bar (or None), advanced per document written

    @property
    def source(self) -> str:
        return self.spool.source

    @property
    def full(self) -> bool:
        if self.max_docs and self.report.written >= self.max_docs:
            self.report.capped = True
            return True
        return False

    def seen(self, item_id: str) -> bool:
        """True (and counted as skipped) when an earlier run already handled the item."""
        if self.spool.done(item_id):
            self.report.skipped += 1
            return True
        return False

    def save(self, item_id: str, docs: list[Document]) -> None:
        self.report.bytes += self.spool.write(item_id, docs)
        self.report.written += len(docs)
        if self.progress is not None:
            self.progress.update(len(docs))

    def filtered(self, item_id: str, licence: str) -> None:
        self.spool.mark(item_id, "licence_filtered", licence=licence)
        self.report.licence_filtered += 1
        self.report.licence_filtered_by[licence or "unknown"] += 1

    def quarantine(self, item_id: str, reason: str, payload: str | bytes | None = None) -> None:
        self.report.quarantine.append(self.spool.quarantine(item_id, reason, payload))
        self.report.quarantined += 1
