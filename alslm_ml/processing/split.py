"""Train/validation split at document level, stratified by source, seeded, and leak-proof:
documents that are near-duplicates of each other (MinHash Jaccard >= 0.7) are grouped and a
group always lands in one split. `find_leakage` checks the result independently.

`NearDuplicateGroups` streams: feed it batches of documents (any order), then `assign_splits`
needs only ids and sources, so the split of a gigabyte corpus holds the index, not the texts.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable

from alslm_ml.processing.dedup import NUM_PERM, NearDuplicateIndex, fingerprint, shingle_hashes


class NearDuplicateGroups:
    """Union-find over confirmed near-duplicate pairs (LSH candidates, exact Jaccard >= threshold).
    Groups are connected components, so they do not depend on the order documents arrive in."""

    def __init__(self, threshold: float = 0.7, num_perm: int = NUM_PERM):
        self.index = NearDuplicateIndex(threshold, num_perm)
        self.parent: list[int] = []
        self.sources: list[str] = []
        self.pairs: list[tuple[str, str, float]] = []  # (later id, earlier id, similarity), every confirmed pair

    def _find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def add(self, batch: list[dict], hashes: list | None = None, sigs=None) -> None:
        if hashes is None:
            hashes, sigs = fingerprint(batch, self.index.num_perm)
        keys, main = self.index.candidates_for(hashes, sigs)
        for i, doc in enumerate(batch):
            found = self.index.confirmed(hashes[i], main[i] | self.index.recent_candidates(keys[i]))
            pos = self.index.add(doc["id"], hashes[i], keys[i])
            self.parent.append(pos)
            self.sources.append(doc["source"])
            for j, sim in found:
                self.pairs.append((doc["id"], self.index.ids[j], sim))
                self.parent[self._find(pos)] = self._find(j)

    def representatives(self) -> dict[str, str]:
        """Each doc id -> its group's representative, the smallest id in the group."""
        ids = self.index.ids
        members: dict[int, list[str]] = defaultdict(list)
        for i in range(len(ids)):
            members[self._find(i)].append(ids[i])
        return {i: min(group) for group in members.values() for i in group}


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_splits(ids: list[str], sources: list[str], rep: dict[str, str], val_fraction: float = 0.1, seed: int = 42) -> set[str]:
    """The val ids. Per source, groups are ordered by a seeded hash and taken into val until the
    source's val share reaches val_fraction (at least one document when the source has two or
    more). Hash ranks keep assignments stable when documents are added by a later scrape."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    source_of = dict(zip(ids, sources))
    # A group is stratified under its representative's source, so it is placed exactly once.
    by_source: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for i in ids:
        r = rep[i]
        by_source[source_of[r]][r].append(i)
    val_ids: set[str] = set()
    for groups in by_source.values():
        n_docs = sum(len(g) for g in groups.values())
        want = max(1, round(n_docs * val_fraction)) if n_docs >= 2 else 0
        taken = 0
        for r in sorted(groups, key=lambda r: _rank(seed, r)):
            if taken >= want:
                break
            if taken + len(groups[r]) > math.ceil(want * 1.5) and taken > 0:
                continue  # a big group would overshoot the share: leave it in train
            val_ids.update(groups[r])
            taken += len(groups[r])
    return val_ids


def leaks_across(pairs: Iterable[tuple[str, str, float]], split_of: dict[str, str]) -> list[dict]:
    """Confirmed near-duplicate pairs that straddle the split, as (val_id, train_id, similarity)."""
    out = []
    for a, b, sim in pairs:
        if split_of[a] != split_of[b]:
            val, train = (a, b) if split_of[a] == "val" else (b, a)
            out.append({"val_id": val, "train_id": train, "similarity": round(sim, 4)})
    return sorted(out, key=lambda x: (x["val_id"], -x["similarity"], x["train_id"]))


def split_documents(
    docs: list[dict], val_fraction: float = 0.1, seed: int = 42, leak_threshold: float = 0.7, num_perm: int = NUM_PERM
) -> list[dict]:
    """Return copies of docs with `split` = 'train' | 'val' (in-memory form of
    `NearDuplicateGroups` + `assign_splits`)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    groups = NearDuplicateGroups(leak_threshold, num_perm)
    for i in range(0, len(docs), 1000):
        groups.add(docs[i : i + 1000])
    val_ids = assign_splits([d["id"] for d in docs], [d["source"] for d in docs], groups.representatives(), val_fraction, seed)
    return [{**d, "split": "val" if d["id"] in val_ids else "train"} for d in docs]


def find_leakage(docs: list[dict], threshold: float = 0.7, num_perm: int = NUM_PERM) -> list[dict]:
    """Pairs (val_id, train_id, similarity) across splits whose word 5-gram Jaccard similarity
    is >= threshold (MinHash LSH candidates, exact similarity), from an index of its own."""
    index = NearDuplicateIndex(threshold, num_perm)
    train = [d for d in docs if d["split"] == "train"]
    for i in range(0, len(train), 1000):
        batch = train[i : i + 1000]
        hashes = [shingle_hashes(d["text"]) for d in batch]
        keys, _ = index.candidates_for(hashes)
        for d, h, k in zip(batch, hashes, keys):
            index.add(d["id"], h, k)
    index.merge()
    val = [d for d in docs if d["split"] == "val"]
    leaks = []
    for i in range(0, len(val), 1000):
        batch = val[i : i + 1000]
        hashes = [shingle_hashes(d["text"]) for d in batch]
        _, main = index.candidates_for(hashes)
        for d, h, cands in zip(batch, hashes, main):
            leaks += [{"val_id": d["id"], "train_id": other, "similarity": round(sim, 4)} for other, sim in index.matches(h, cands)]
    return leaks
