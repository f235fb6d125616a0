"""Deduplication (design doc 2.3): MinHash LSH over word 5-gram shingles for near-duplicate
documents, then SHA-256 over whitespace-normalized paragraphs for repeated paragraphs.

LSH only proposes candidates (at a threshold below the target, so pairs near the target are not
missed); the decision uses the exact Jaccard similarity of the two documents' shingle sets, so a
pair is removed if and only if its true similarity reaches the threshold. Both steps keep the
first occurrence in a deterministic order and record what was removed as a duplicate of what.

The work streams: documents arrive in batches in (source, id) order and leave in batches, and only
the index grows with the corpus: per indexed document its shingle hashes (uint32, for the exact
Jaccard), its LSH band keys (uint64 in sorted numpy arrays) and, per kept paragraph, 8 bytes of
its SHA-256. MinHash is datasketch's default (affine32) scheme (same seed, same permutations, same bands), computed
in numpy for a whole batch at once.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from alslm_ml.processing.clean import count_tokens

NUM_PERM = 128
SHINGLE = 5
SEED = 1
_WORD = re.compile(r"\w+")
_MASK32 = np.uint64(0xFFFFFFFF)
_CHUNK = 1 << 14  # shingles per vectorized MinHash step (x num_perm x 4 bytes of scratch: 8 MiB)


class _WordCrc(dict):
    """word -> CRC32, computed once per distinct word (words repeat: a dict hit is ~5x cheaper
    than encoding and hashing again)."""

    def __missing__(self, word: str) -> int:
        v = self[word] = zlib.crc32(word.encode())
        return v


_CRC = _WordCrc()
_CRC_MAX = 2_000_000  # distinct words cached (~200 MB at most); cleared beyond


def shingle_hashes(text: str, k: int = SHINGLE) -> np.ndarray:
    """Sorted unique 32-bit hashes of the lower-cased word k-grams (a text shorter than k words
    is one shingle). Words are hashed once with CRC32 and combined with a polynomial rolling
    hash in numpy, so no shingle strings are built."""
    words = _WORD.findall(text.lower())
    if not words:
        return np.zeros(0, dtype=np.uint32)
    if len(_CRC) > _CRC_MAX:
        _CRC.clear()
    wh = np.fromiter(map(_CRC.__getitem__, words), dtype=np.uint64, count=len(words))
    n = max(1, len(wh) - k + 1)
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(min(k, len(wh))):
        acc = (acc * np.uint64(1_000_003) + wh[j : j + n]) & _MASK32
    return np.unique(acc).astype(np.uint32)


@lru_cache(maxsize=4)
def permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of datasketch's MinHash(num_perm, seed) in its default "affine32" scheme: the
    same generator and draws (odd a, so h -> a*h + b mod 2^32 is a bijection)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, datasketch's pre-mix of every input hash."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _permuted_min(hv: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per segment of `hv` (segments begin at `starts`), the min over its hashes of
    (fmix(h) * a + b) mod 2^32 for every permutation: (segments, num_perm). Permutations run
    along rows and hashes along columns, so the min-reduction reads contiguous memory."""
    x = a[:, None] * _fmix32(hv)[None, :] + b[:, None]
    return np.minimum.reduceat(x, starts, axis=1).T


def signatures(hash_sets: list[np.ndarray], num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash signatures (n, num_perm) of shingle-hash sets, identical to datasketch's
    `MinHash(num_perm, seed=1).update_batch(...)` hashvalues; an empty set is all 0xFFFFFFFF.
    Documents are processed in groups of ~_CHUNK hashes, so the scratch stays in cache."""
    a, b = permutations(num_perm)
    out = np.full((len(hash_sets), num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    group: list[int] = []
    size = 0

    def flush():
        nonlocal group, size
        if group:
            lens = np.array([len(hash_sets[i]) for i in group])
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
            out[group] = _permuted_min(np.concatenate([hash_sets[i] for i in group]), starts, a, b)
        group, size = [], 0

    for i, h in enumerate(hash_sets):
        n = len(h)
        if n == 0:
            continue
        if n >= _CHUNK:  # one long document: fold it in slices
            flush()
            for s in range(0, n, _CHUNK):
                out[i] = np.minimum(out[i], _permuted_min(h[s : s + _CHUNK], np.zeros(1, np.int64), a, b)[0])
            continue
        if size + n > _CHUNK:
            flush()
        group.append(i)
        size += n
    flush()
    return out


def fingerprint(batch: list[dict], num_perm: int = NUM_PERM) -> tuple[list[np.ndarray], np.ndarray]:
    """Shingle hashes and MinHash signatures of a batch of documents (the parallelizable part)."""
    hashes = [shingle_hashes(d["text"]) for d in batch]
    return hashes, signatures(hashes, num_perm)


def fingerprint_batch(batch: list[dict], num_perm: int = NUM_PERM) -> tuple[list[dict], list[np.ndarray], np.ndarray]:
    """`fingerprint`, returning the batch too (for `parallel.imap`, which keeps the order)."""
    return (batch, *fingerprint(batch, num_perm))


@lru_cache(maxsize=16)
def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) minimising false positives + negatives at `threshold`, as datasketch picks them."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


_BAND_MUL = np.uint64(0x9E3779B97F4A7C15)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 keys: equal bands give equal keys, so every pair datasketch's LSH would
    propose is proposed (a rare extra pair from a key collision is rejected by the exact Jaccard)."""
    keys = np.zeros((len(sigs), bands), dtype=np.uint64)
    for j in range(rows):
        keys = keys * _BAND_MUL + sigs[:, j : bands * rows : rows].astype(np.uint64) + np.uint64(j + 1)
    return keys


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class NearDuplicateIndex:
    """LSH candidates at `candidate_threshold` (= threshold - margin), confirmed by exact Jaccard
    >= `threshold`. Documents are added with an integer position; their band keys go to a small
    dict first and are merged into sorted numpy arrays every `merge_every` documents, so a batch
    of queries is a vectorized `searchsorted` and the index costs ~12 bytes per band and document."""

    def __init__(self, threshold: float, num_perm: int = NUM_PERM, margin: float = 0.15, merge_every: int = 20_000):
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(max(0.3, threshold - margin), num_perm)
        self.merge_every = merge_every
        self.keys = [np.zeros(0, np.uint64) for _ in range(self.bands)]
        self.vals = [np.zeros(0, np.int64) for _ in range(self.bands)]
        self.recent: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self.pending: list[tuple[int, np.ndarray]] = []
        self.ids: list[str] = []
        self.hashes: list[np.ndarray] = []

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        return band_keys(sigs, self.bands, self.rows)

    def main_candidates(self, keys: np.ndarray) -> list[set[int]]:
        """Positions in the merged arrays sharing a band with each row of `keys`."""
        out = [set() for _ in range(len(keys))]
        for j in range(self.bands):
            if not len(self.keys[j]):
                continue
            lo = np.searchsorted(self.keys[j], keys[:, j], "left")
            hi = np.searchsorted(self.keys[j], keys[:, j], "right")
            for i in np.flatnonzero(hi > lo):
                out[i].update(self.vals[j][lo[i] : hi[i]].tolist())
        return out

    def recent_candidates(self, key_row: np.ndarray) -> set[int]:
        found = set()
        for j, k in enumerate(key_row.tolist()):
            hit = self.recent[j].get(k)
            if hit:
                found.update(hit)
        return found

    def confirmed(self, hashes: np.ndarray, candidates: Iterable[int]) -> list[tuple[int, float]]:
        """(position, similarity) of the candidates whose exact Jaccard reaches the threshold."""
        found = []
        for pos in candidates:
            sim = jaccard(hashes, self.hashes[pos])
            if sim >= self.threshold:
                found.append((pos, sim))
        return found

    def matches(self, hashes: np.ndarray, candidates: Iterable[int]) -> list[tuple[str, float]]:
        """(id, similarity) of candidates at or above the threshold, best first."""
        return sorted(((self.ids[p], s) for p, s in self.confirmed(hashes, candidates)), key=lambda x: (-x[1], x[0]))

    def add(self, doc_id: str, hashes: np.ndarray, key_row: np.ndarray) -> int:
        pos = len(self.ids)
        self.ids.append(doc_id)
        self.hashes.append(hashes)
        for j, k in enumerate(key_row.tolist()):
            self.recent[j].setdefault(k, []).append(pos)
        self.pending.append((pos, key_row))
        if len(self.pending) >= self.merge_every:
            self.merge()
        return pos

    def merge(self) -> None:
        if not self.pending:
            return
        pos = np.array([p for p, _ in self.pending], dtype=np.int64)
        keys = np.stack([k for _, k in self.pending])
        for j in range(self.bands):
            k = np.concatenate([self.keys[j], keys[:, j]])
            v = np.concatenate([self.vals[j], pos])
            order = np.argsort(k, kind="stable")
            self.keys[j], self.vals[j] = k[order], v[order]
            self.recent[j] = {}
        self.pending = []

    def candidates_for(self, docs_hashes: list[np.ndarray], sigs: np.ndarray | None = None) -> tuple[np.ndarray, list[set[int]]]:
        """Band keys of a batch and its candidates among the merged documents."""
        keys = self.band_keys(signatures(docs_hashes, self.num_perm) if sigs is None else sigs)
        return keys, self.main_candidates(keys)

    def nbytes(self) -> int:
        """Approximate memory of the index: shingle hashes, band arrays, recent dicts, ids."""
        arrays = sum(h.nbytes + 112 for h in self.hashes) + sum(k.nbytes + v.nbytes for k, v in zip(self.keys, self.vals))
        recent = sum(len(d) for d in self.recent) * 120
        return arrays + recent + sum(len(i) + 57 for i in self.ids)


def _para_key(para: str) -> int:
    """The first 8 bytes of the SHA-256 of the whitespace-normalized paragraph (a false match
    needs a 64-bit collision: ~1e-7 at 2 million paragraphs)."""
    return int.from_bytes(hashlib.sha256(" ".join(para.split()).encode()).digest()[:8], "big")


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


class Deduplicator:
    """The streaming dedup: feed batches of documents in (source, id) order to `process`, which
    returns that batch's kept documents and duplicate rows. A document's fate depends only on the
    documents before it, so near-duplicate and paragraph dedup run in the same single pass."""

    def __init__(self, threshold: float = 0.85, num_perm: int = NUM_PERM, min_paragraph_words: int = 8, min_tokens: int = 0):
        self.index = NearDuplicateIndex(threshold, num_perm)
        self.min_paragraph_words = min_paragraph_words
        self.min_tokens = min_tokens
        self.seen: dict[int, int] = {}  # paragraph key -> position of the kept document (in self.kept_ids)
        self.kept_ids: list[str] = []
        self.documents_in = 0
        self.counts = Counter()
        self._last: tuple[str, str] | None = None

    def process(self, batch: list[dict], hashes: list[np.ndarray] | None = None, sigs: np.ndarray | None = None) -> tuple[list[dict], list[dict]]:
        """Kept documents and duplicate rows of this batch (`hashes`/`sigs`: from `fingerprint`,
        when a worker process computed them)."""
        if hashes is None:
            hashes, sigs = fingerprint(batch, self.index.num_perm)
        keys, main = self.index.candidates_for(hashes, sigs)
        kept, dups = [], []
        for i, doc in enumerate(batch):
            order = (doc["source"], doc["id"])
            if self._last is not None and order < self._last:
                raise ValueError(f"dedup: documents must arrive in (source, id) order; got {order} after {self._last}")
            self._last = order
            self.documents_in += 1
            match = self.index.matches(hashes[i], main[i] | self.index.recent_candidates(keys[i]))
            if match:
                kept_id, sim = match[0]
                dups.append({"kind": "document", "removed_id": doc["id"], "kept_id": kept_id, "similarity": round(sim, 4), "paragraph": ""})
                self.counts["document"] += 1
                continue
            self.index.add(doc["id"], hashes[i], keys[i])
            out = self._paragraphs(doc, dups)
            if out is not None:
                kept.append(out)
        return kept, dups

    def _paragraphs(self, doc: dict, dups: list[dict]) -> dict | None:
        paras = doc["text"].split("\n\n")
        keep_paras, removed, registered = [], [], []
        me = len(self.kept_ids)
        for para in paras:
            if len(para.split()) < self.min_paragraph_words:
                keep_paras.append(para)
                continue
            key = _para_key(para)
            if key in self.seen:
                removed.append({"kind": "paragraph", "removed_id": doc["id"], "kept_id": self.kept_ids[self.seen[key]],
                                "similarity": 1.0, "paragraph": para[:200]})
            else:
                self.seen[key] = me
                registered.append(key)
                keep_paras.append(para)
        dups.extend(removed)
        self.counts["paragraph"] += len(removed)
        self.kept_ids.append(doc["id"])
        if not removed:
            return doc
        text = "\n\n".join(keep_paras)
        n_tokens = count_tokens(text)
        if n_tokens < self.min_tokens:
            donor = Counter(r["kept_id"] for r in removed).most_common(1)[0][0]
            words_before = len(doc["text"].split())
            removed_share = (words_before - len(text.split())) / max(1, words_before)
            dups.append({"kind": "residue", "removed_id": doc["id"], "kept_id": donor,
                         "similarity": round(removed_share, 4),
                         "paragraph": f"{n_tokens} tokens left after paragraph dedup (minimum {self.min_tokens})"})
            self.counts["residue"] += 1
            for key in registered:  # its own paragraphs are not in the corpus: later copies stay
                del self.seen[key]
            return None
        doc = {**doc, "text": text}
        if "n_tokens" in doc:
            doc["n_tokens"] = n_tokens
        return doc

    def index_bytes(self) -> dict:
        """The structures that grow with the corpus, in bytes."""
        return {"minhash_lsh": self.index.nbytes(), "paragraph_hashes": len(self.seen) * 100,
                "kept_ids": sum(len(i) + 57 for i in self.kept_ids)}


def _batched(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def dedup_documents(
    docs: Iterable[dict],
    threshold: float = 0.85,
    num_perm: int = NUM_PERM,
    min_paragraph_words: int = 8,
    min_tokens: int = 0,
    batch_size: int = 1000,
) -> DedupResult:
    """Remove near-duplicate documents (Jaccard >= threshold on word 5-grams) and repeated
    paragraphs (exact after whitespace normalization; paragraphs shorter than
    `min_paragraph_words`, such as headings, are left alone). A document that paragraph removal
    leaves under `min_tokens` (the cleaning minimum) is mostly a copy of others: it is removed as
    a "residue" of the document that holds most of its removed paragraphs, with the share of its
    words removed as the similarity. Documents are visited in (source, id) order, so the result
    does not depend on input order. (In-memory form of `Deduplicator`.)"""
    ordered = sorted(docs, key=lambda d: (d["source"], d["id"]))
    dd = Deduplicator(threshold, num_perm, min_paragraph_words, min_tokens)
    kept, dups = [], []
    for batch in _batched(ordered, batch_size):
        k, d = dd.process(batch)
        kept += k
        dups += d
    return DedupResult(kept, dups)
