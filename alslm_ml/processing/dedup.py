"""Deduplication (design doc 2.3): MinHash LSH over word 5-gram shingles for near-duplicate
documents, then SHA-256 over whitespace-normalized paragraphs for repeated paragraphs.

Both keep the first occurrence in a deterministic order and record what was removed as a
duplicate of what, so the provenance of every removal is a table row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from datasketch import MinHash, MinHashLSH
from tqdm.auto import tqdm

from alslm_ml.processing.clean import count_tokens

NUM_PERM = 128
SHINGLE = 5
_WORD = re.compile(r"\w+")


def shingles(text: str, k: int = SHINGLE) -> set[bytes]:
    """Word k-gram shingles of the lower-cased text (a short text is its own single shingle)."""
    words = _WORD.findall(text.lower())
    if len(words) < k:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


def minhash(text: str, num_perm: int = NUM_PERM, seed: int = 1) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch(list(shingles(text)))
    return m


def minhashes(docs: list[dict], num_perm: int = NUM_PERM, desc: str = "minhash") -> Iterator[MinHash]:
    for doc in tqdm(docs, desc=desc, unit="doc", leave=False, mininterval=2):
        yield minhash(doc["text"], num_perm)


def _para_key(para: str) -> str:
    return hashlib.sha256(" ".join(para.split()).encode()).hexdigest()


@dataclass
class DedupResult:
    documents: list[dict]
    duplicates: list[dict] = field(default_factory=list)  # rows: kind, removed_id, kept_id, similarity, paragraph

    @property
    def removed_documents(self) -> int:
        return sum(1 for d in self.duplicates if d["kind"] == "document")

    @property
    def removed_paragraphs(self) -> int:
        return sum(1 for d in self.duplicates if d["kind"] == "paragraph")


def dedup_documents(
    docs: Iterable[dict],
    threshold: float = 0.85,
    num_perm: int = NUM_PERM,
    min_paragraph_words: int = 8,
    min_tokens: int = 0,
) -> DedupResult:
    """Remove near-duplicate documents (estimated Jaccard >= threshold on word 5-grams) and
    repeated paragraphs (exact after whitespace normalization; paragraphs shorter than
    `min_paragraph_words` such as headings are left alone). Documents are visited in id order
    within source order, so the result does not depend on input order."""
    ordered = sorted(docs, key=lambda d: (d["source"], d["id"]))
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs: dict[str, MinHash] = {}
    kept, dups = [], []
    for doc, m in zip(ordered, minhashes(ordered, num_perm, desc="dedup: documents")):
        match = next(iter(sorted(lsh.query(m))), None)
        if match is not None:
            sim = m.jaccard(sigs[match])
            if sim >= threshold:
                dups.append({"kind": "document", "removed_id": doc["id"], "kept_id": match, "similarity": round(sim, 4), "paragraph": ""})
                continue
        lsh.insert(doc["id"], m)
        sigs[doc["id"]] = m
        kept.append(doc)

    seen: dict[str, str] = {}
    out = []
    for doc in kept:
        paras = doc["text"].split("\n\n")
        keep_paras = []
        for para in paras:
            if len(para.split()) < min_paragraph_words:
                keep_paras.append(para)
                continue
            key = _para_key(para)
            if key in seen:
                dups.append({"kind": "paragraph", "removed_id": doc["id"], "kept_id": seen[key], "similarity": 1.0, "paragraph": para[:200]})
            else:
                seen[key] = doc["id"]
                keep_paras.append(para)
        text = "\n\n".join(keep_paras)
        if len(keep_paras) != len(paras):
            doc = {**doc, "text": text}
            if "n_tokens" in doc:
                doc["n_tokens"] = count_tokens(text)
                if doc["n_tokens"] < min_tokens:
                    dups.append({"kind": "document", "removed_id": doc["id"], "kept_id": "", "similarity": 0.0, "paragraph": "too short after paragraph dedup"})
                    continue
        out.append(doc)
    return DedupResult(out, dups)
