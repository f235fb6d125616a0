"""How many CPU threads a local model gets: one policy for llama.cpp and torch.

Both llama.cpp and torch's OpenMP workers spin-wait at barriers, so a thread that has to wait for a
core another process holds stalls all the others. Measured on the 2-core development machine
(benchmarks/bench_infer.py, bench_retrieval.py): SmolLM2 decoded 3.6 tokens/s with 2 threads at
load average 7 against 31 tokens/s with 1, and the toy GGUF's first token was ~500x slower with a
second, contended thread. Hence: count only the cores that are free, and give models whose
matrices are too small to split a single thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMALL_MODEL_BYTES = 32 * 2**20  # below this (the tiny model: 8-15 MB), one thread: matrices too small to split
MAX_LLAMA_THREADS = 8  # decoding is memory-bound; more threads stop paying off


def free_cores() -> int:
    """Cores not already busy by the 1-minute load average (at least 1)."""
    cpus = os.cpu_count() or 1
    try:
        free = cpus - os.getloadavg()[0]
    except OSError:  # no load average on this platform
        free = cpus
    return max(1, min(cpus, int(free + 0.5)))


def llama_threads(model_path: str | Path | None = None) -> int:
    """llama.cpp threads for a GGUF: 1 for a small file, else the free cores up to MAX_LLAMA_THREADS."""
    if model_path is not None and Path(model_path).stat().st_size < SMALL_MODEL_BYTES:
        return 1
    return min(MAX_LLAMA_THREADS, free_cores())


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with n torch intra-op threads (0 = leave torch's setting), restoring the old value after."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
