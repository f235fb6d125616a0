"""Train/validation split at document level, stratified by source, seeded, and leak-proof:
documents that are near-duplicates of each other (MinHash Jaccard >= 0.7) are grouped and a
group always lands in one split. `find_leakage` checks the result independently."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from alslm_ml.processing.dedup import NUM_PERM, NearDuplicateIndex, fingerprints


def _near_duplicate_groups(docs: list[dict], threshold: float, num_perm: int) -> dict[str, str]:
    """Map each doc id to its group's representative, the smallest id in the group (union-find
    over LSH matches), so groups do not depend on input order."""
    parent = {d["id"]: d["id"] for d in docs}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    index = NearDuplicateIndex(threshold, num_perm)
    for doc, hashes, sig in fingerprints(docs, num_perm, desc="split: grouping"):
        for other, _ in index.matches(hashes, sig):
            parent[find(doc["id"])] = find(other)
        index.add(doc["id"], hashes, sig)
    members: dict[str, list[str]] = defaultdict(list)
    for i in parent:
        members[find(i)].append(i)
    return {i: min(ids) for ids in members.values() for i in ids}


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_documents(
    docs: list[dict], val_fraction: float = 0.1, seed: int = 42, leak_threshold: float = 0.7, num_perm: int = NUM_PERM
) -> list[dict]:
    """Return copies of docs with `split` = 'train' | 'val'. Per source, groups are ordered by a
    seeded hash and taken into val until the source's val share reaches val_fraction (at least
    one document when the source has two or more). Hash ranks keep assignments stable when
    documents are added by a later scrape."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    group = _near_duplicate_groups(docs, leak_threshold, num_perm)
    source_of = {d["id"]: d["source"] for d in docs}
    # A group is stratified under its representative's source, so it is placed exactly once.
    by_source: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for d in docs:
        rep = group[d["id"]]
        by_source[source_of[rep]][rep].append(d["id"])
    val_ids: set[str] = set()
    for groups in by_source.values():
        n_docs = sum(len(g) for g in groups.values())
        want = max(1, round(n_docs * val_fraction)) if n_docs >= 2 else 0
        taken = 0
        for rep in sorted(groups, key=lambda r: _rank(seed, r)):
            if taken >= want:
                break
            if taken + len(groups[rep]) > math.ceil(want * 1.5) and taken > 0:
                continue  # a big group would overshoot the share: leave it in train
            val_ids.update(groups[rep])
            taken += len(groups[rep])
    return [{**d, "split": "val" if d["id"] in val_ids else "train"} for d in docs]


def find_leakage(docs: list[dict], threshold: float = 0.7, num_perm: int = NUM_PERM) -> list[dict]:
    """Pairs (val_id, train_id, similarity) across splits whose word 5-gram Jaccard similarity
    is >= threshold (MinHash LSH candidates, exact similarity)."""
    index = NearDuplicateIndex(threshold, num_perm)
    for d, hashes, sig in fingerprints([d for d in docs if d["split"] == "train"], num_perm, desc="leakage: train"):
        index.add(d["id"], hashes, sig)
    leaks = []
    for d, hashes, sig in fingerprints([d for d in docs if d["split"] == "val"], num_perm, desc="leakage: val"):
        leaks += [{"val_id": d["id"], "train_id": other, "similarity": round(sim, 4)} for other, sim in index.matches(hashes, sig)]
    return leaks
