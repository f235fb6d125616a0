"""Train/validation split at document level, stratified by source, seeded, and leak-proof:
documents that are near-duplicates of each other (MinHash Jaccard >= 0.7) are grouped and a
group always lands in one split. `find_leakage` checks the result independently."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from datasketch import MinHashLSH

from alslm_ml.processing.dedup import NUM_PERM, minhashes


def _near_duplicate_groups(docs: list[dict], threshold: float, num_perm: int) -> dict[str, str]:
    """Map each doc id to its group's representative, the smallest id in the group (union-find
    over LSH matches), so groups do not depend on input order."""
    parent = {d["id"]: d["id"] for d in docs}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = {}
    for doc, m in zip(docs, minhashes(docs, num_perm, desc="split: grouping")):
        for other in lsh.query(m):
            if m.jaccard(sigs[other]) >= threshold:
                parent[find(doc["id"])] = find(other)
        lsh.insert(doc["id"], m)
        sigs[doc["id"]] = m
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
    for source, groups in by_source.items():
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
    """Pairs (val_id, train_id, similarity) whose MinHash Jaccard is >= threshold across splits."""
    train = [d for d in docs if d["split"] == "train"]
    val = [d for d in docs if d["split"] == "val"]
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = {}
    for d, m in zip(train, minhashes(train, num_perm, desc="leakage: train")):
        lsh.insert(d["id"], m)
        sigs[d["id"]] = m
    leaks = []
    for d, m in zip(val, minhashes(val, num_perm, desc="leakage: val")):
        for other in sorted(lsh.query(m)):
            sim = m.jaccard(sigs[other])
            if sim >= threshold:
                leaks.append({"val_id": d["id"], "train_id": other, "similarity": round(sim, 4)})
    return leaks
