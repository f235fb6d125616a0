"""Deduplication (design doc 2.3): MinHash LSH over word 5-gram shingles for near-duplicate
documents, then SHA-256 over whitespace-normalized paragraphs for repeated paragraphs.

LSH only proposes candidates (at a threshold below the target, so pairs near the target are not
missed); the decision uses the exact Jaccard similarity of the two documents' shingle sets, so a
pair is removed if and only if its true similarity reaches the threshold. Both steps keep the
first occurrence in a deterministic order and record what was removed as a duplicate of what.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from datasketch import MinHash, MinHashLSH
from tqdm.auto import tqdm

from alslm_ml.processing.clean import count_tokens

NUM_PERM = 128
SHINGLE = 5
SEED = 1
_WORD = re.compile(r"\w+")
_MASK32 = np.uint64(0xFFFFFFFF)


def _identity(x):  # shingles arrive already hashed to 32 bits
    return int(x)


def shingle_hashes(text: str, k: int = SHINGLE) -> np.ndarray:
    """Sorted unique 32-bit hashes of the lower-cased word k-grams (a text shorter than k words
    is one shingle). Words are hashed once with CRC32 and combined with a polynomial rolling
    hash in numpy, so no shingle strings are built."""
    words = _WORD.findall(text.lower())
    if not words:
        return np.zeros(0, dtype=np.uint64)
    wh = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    n = max(1, len(wh) - k + 1)
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(min(k, len(wh))):
        acc = (acc * np.uint64(1_000_003) + wh[j : j + n]) & _MASK32
    return np.unique(acc)


def signature(hashes: np.ndarray, num_perm: int = NUM_PERM) -> MinHash:
    """The MinHash (datasketch's default affine32 scheme) of a set of 32-bit shingle hashes."""
    m = MinHash(num_perm=num_perm, seed=SEED, hashfunc=_identity)
    m.update_batch(hashes.tolist())
    return m


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class NearDuplicateIndex:
    """LSH candidates at `candidate_threshold`, confirmed by exact Jaccard >= `threshold`."""

    def __init__(self, threshold: float, num_perm: int = NUM_PERM, margin: float = 0.15):
        self.threshold = threshold
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=max(0.3, threshold - margin), num_perm=num_perm)
        self.hashes: dict[str, np.ndarray] = {}

    def matches(self, hashes: np.ndarray, sig: MinHash) -> list[tuple[str, float]]:
        """(id, similarity) of indexed documents at or above the threshold, best first."""
        found = []
        for other in self.lsh.query(sig):
            sim = jaccard(hashes, self.hashes[other])
            if sim >= self.threshold:
                found.append((other, sim))
        return sorted(found, key=lambda x: (-x[1], x[0]))

    def add(self, key: str, hashes: np.ndarray, sig: MinHash) -> None:
        self.lsh.insert(key, sig)
        self.hashes[key] = hashes


def fingerprints(docs: list[dict], num_perm: int = NUM_PERM, desc: str = "minhash"):
    """Yield (doc, shingle hashes, MinHash) with a progress bar."""
    for doc in tqdm(docs, desc=desc, unit="doc", leave=False, mininterval=2):
        h = shingle_hashes(doc["text"])
        yield doc, h, signature(h, num_perm)


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

    @property
    def removed_residues(self) -> int:
        return sum(1 for d in self.duplicates if d["kind"] == "residue")


def dedup_documents(
    docs: Iterable[dict],
    threshold: float = 0.85,
    num_perm: int = NUM_PERM,
    min_paragraph_words: int = 8,
    min_tokens: int = 0,
) -> DedupResult:
    """Remove near-duplicate documents (Jaccard >= threshold on word 5-grams) and repeated
    paragraphs (exact after whitespace normalization; paragraphs shorter than
    `min_paragraph_words`, such as headings, are left alone). A document that paragraph removal
    leaves under `min_tokens` (the cleaning minimum) is mostly a copy of others: it is removed as
    a "residue" of the document that holds most of its removed paragraphs, with the share of its
    words removed as the similarity. Documents are visited in (source, id) order, so the result
    does not depend on input order."""
    ordered = sorted(docs, key=lambda d: (d["source"], d["id"]))
    index = NearDuplicateIndex(threshold, num_perm)
    kept, dups = [], []
    for doc, hashes, sig in fingerprints(ordered, num_perm, desc="dedup: documents"):
        match = index.matches(hashes, sig)
        if match:
            kept_id, sim = match[0]
            dups.append({"kind": "document", "removed_id": doc["id"], "kept_id": kept_id, "similarity": round(sim, 4), "paragraph": ""})
            continue
        index.add(doc["id"], hashes, sig)
        kept.append(doc)

    seen: dict[str, str] = {}
    out = []
    for doc in kept:
        paras = doc["text"].split("\n\n")
        keep_paras, removed, registered = [], [], []
        for para in paras:
            if len(para.split()) < min_paragraph_words:
                keep_paras.append(para)
                continue
            key = _para_key(para)
            if key in seen:
                removed.append({"kind": "paragraph", "removed_id": doc["id"], "kept_id": seen[key], "similarity": 1.0, "paragraph": para[:200]})
            else:
                seen[key] = doc["id"]
                registered.append(key)
                keep_paras.append(para)
        dups.extend(removed)
        if removed:
            text = "\n\n".join(keep_paras)
            n_tokens = count_tokens(text)
            if n_tokens < min_tokens:
                donor = Counter(r["kept_id"] for r in removed).most_common(1)[0][0]
                words_before = len(doc["text"].split())
                removed_share = (words_before - len(text.split())) / max(1, words_before)
                dups.append({"kind": "residue", "removed_id": doc["id"], "kept_id": donor,
                             "similarity": round(removed_share, 4),
                             "paragraph": f"{n_tokens} tokens left after paragraph dedup (minimum {min_tokens})"})
                for key in registered:  # its own paragraphs are not in the corpus: later copies stay
                    del seen[key]
                continue
            doc = {**doc, "text": text}
            if "n_tokens" in doc:
                doc["n_tokens"] = n_tokens
        out.append(doc)
    return DedupResult(out, dups)
