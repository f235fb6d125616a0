"""Dense vectors of finished chunks, kept on disk while the index builds, so a killed build
resumes where it stopped and a rebuild (new documents, other chunk settings) embeds only texts
it has not seen.

A spool is a folder per embedding model under data/embeddings/: numbered parts, each a pair
`part-NNNNNN.dense.npy` (float32, n x dim) and `part-NNNNNN.keys.npy` (uint64, the first 8 bytes
of blake2b(text)). A dense vector depends on the chunk text alone, so the text hash is the key.
The keys file is renamed into place last: a part without one was cut off mid-write and is
ignored (and overwritten by the next part with its number).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from alslm_ml import paths


def text_key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def spool_dir(model: str, model_file: Path | None, root: Path | None = None) -> Path:
    """One folder per model and model file (name + size: a re-quantized or other export gets a
    new spool rather than mixing vectors of two models)."""
    ident = f"{model}|{model_file.name if model_file else ''}|{model_file.stat().st_size if model_file and model_file.exists() else ''}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_")
    return Path(root or paths.embeddings_dir()) / f"{slug}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}"


class Spool:
    def __init__(self, path: Path, dim: int, meta: dict | None = None):
        self.path, self.dim = Path(path), dim
        self.path.mkdir(parents=True, exist_ok=True)
        info = self.path / "spool.json"
        if info.exists():
            old = json.loads(info.read_text())
            if old.get("dim") != dim:
                raise ValueError(f"{info}: spool holds {old.get('dim')}-d vectors, the model gives {dim}-d; delete {self.path}")
        else:
            info.write_text(json.dumps({**(meta or {}), "dim": dim}, indent=2))
        self.parts: list[np.ndarray] = []  # dense arrays (memory-mapped)
        self.added = 0
        keys, where = [], []
        for k in sorted(self.path.glob("part-*.keys.npy")):
            d = k.with_name(k.name.replace(".keys.", ".dense."))
            kk, dd = np.load(k), np.load(d, mmap_mode="r") if d.exists() else None
            if dd is None or dd.shape != (len(kk), dim):
                continue  # an incomplete part: ignored
            keys.append(kk)
            where.append(np.stack([np.full(len(kk), len(self.parts)), np.arange(len(kk))], 1))
            self.parts.append(dd)
        self.next_part = 1 + max((int(p.name.split("-")[1].split(".")[0]) for p in self.path.glob("part-*.keys.npy")), default=-1)
        self._set_index(np.concatenate(keys) if keys else np.zeros(0, np.uint64),
                        np.concatenate(where) if where else np.zeros((0, 2), np.int64))

    def _set_index(self, keys: np.ndarray, where: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.where = keys[order], where[order]

    def __len__(self) -> int:
        return len(self.keys) + self.added

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors of the found keys in order)."""
        keys = np.asarray(keys, np.uint64)
        if not len(self.keys):
            return np.zeros(len(keys), bool), np.zeros((0, self.dim), np.float32)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        vecs = np.array([self.parts[p][r] for p, r in self.where[pos[found]]], np.float32).reshape(-1, self.dim)
        return found, vecs

    def add(self, keys: np.ndarray, dense: np.ndarray) -> None:
        """Write one part (vectors first, keys last, each by rename). Looked up from the next
        Spool opened on this folder on: re-sorting the index per part would cost more than the
        rare text repeated within one build costs to embed twice."""
        keys, dense = np.asarray(keys, np.uint64), np.asarray(dense, np.float32)
        if not len(keys):
            return
        stem = self.path / f"part-{self.next_part:06d}"
        for suffix, arr in ((".dense.npy", dense), (".keys.npy", keys)):
            tmp = stem.with_name(stem.name + suffix + ".tmp")
            with open(tmp, "wb") as f:
                np.save(f, arr)
            os.replace(tmp, stem.with_name(stem.name + suffix))
        self.next_part += 1
        self.added += len(keys)

    def remove(self) -> None:
        self.parts.clear()
        shutil.rmtree(self.path, ignore_errors=True)
