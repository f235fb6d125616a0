"""Deterministic batches from the uint16 token streams.

Each epoch cuts the train stream into non-overlapping windows of block_size + 1 tokens, starting at
a random shift, and visits them in a random order; both come from a generator seeded with
(seed, epoch). The sampler's whole state is therefore (epoch, index): saved in every checkpoint, it
makes a resumed run see exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from alslm_ml.tokenizer.encode import open_stream


class EpochSampler:
    def __init__(self, tokens: np.ndarray, block_size: int, seed: int, rank: int = 0, world: int = 1,
                 name: str = "train.bin"):
        if len(tokens) < block_size + 2:
            raise ValueError(f"{name}: {len(tokens)} tokens is too few for one window of {block_size + 1}")
        self.tokens, self.block, self.seed = tokens, block_size, seed
        self.rank, self.world = rank, world
        self.epoch, self.index = 0, 0
        self._order: np.ndarray | None = None

    def _starts(self) -> np.ndarray:
        if self._order is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            shift = int(rng.integers(0, self.block))
            n = (len(self.tokens) - 1 - shift) // self.block
            starts = shift + self.block * np.arange(n)
            self._order = starts[rng.permutation(n)]
        return self._order

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """batch_size windows for this rank (ranks take interleaved slices of the global order)."""
        rows = []
        while len(rows) < batch_size:
            starts = self._starts()
            if self.index >= len(starts):
                self.epoch, self.index, self._order = self.epoch + 1, 0, None
                continue
            if self.index % self.world == self.rank:
                rows.append(self.tokens[starts[self.index] : starts[self.index] + self.block + 1])
            self.index += 1
        xy = torch.from_numpy(np.stack(rows).astype(np.int64))
        return xy[:, :-1].contiguous(), xy[:, 1:].contiguous()

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict) -> None:
        self.epoch, self.index, self._order = int(state["epoch"]), int(state["index"]), None

    @property
    def windows_per_epoch(self) -> int:
        return (len(self.tokens) - 1) // self.block


def val_batches(tokens: np.ndarray, block_size: int, batch_size: int, n_batches: int,
                name: str = "val.bin") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed set of evaluation batches: the first non-overlapping windows of the val stream
    (fewer tokens per window when the stream is shorter than one block)."""
    block = min(block_size, len(tokens) - 1)
    if block < 8:
        raise ValueError(f"{name}: {len(tokens)} tokens is too few to evaluate on")
    n = min((len(tokens) - 1) // block, batch_size * n_batches)
    starts = block * np.arange(n)
    out = []
    for i in range(0, n, batch_size):
        xy = torch.from_numpy(np.stack([tokens[s : s + block + 1] for s in starts[i : i + batch_size]]).astype(np.int64))
        out.append((xy[:, :-1].contiguous(), xy[:, 1:].contiguous()))
    return out


def load_streams(tokens_dir: str | Path) -> tuple[np.memmap, np.memmap]:
    d = Path(tokens_dir)
    return open_stream(d / "train.bin"), open_stream(d / "val.bin")


def unigram_baseline(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/token) of the val stream under add-one-smoothed train unigram
    frequencies: the loss of a model that ignores context. A trained LM must beat it."""
    counts = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[np.asarray(val, dtype=np.int64)].mean())
