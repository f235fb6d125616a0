"""Bounded parallel map for the corpus stages: the pure per-batch work (cleaning, shingling,
MinHash, word counts) runs in worker processes while the main process does the sequential part
(LSH decisions, DuckDB writes). At most `prefetch` batches are in flight, so memory stays bounded
however large the corpus. Workers are spawned (not forked): the parent holds DuckDB and Dagster
threads, which a fork would copy mid-lock.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def imap(fn: Callable[[T], R], items: Iterable[T], workers: int = 1, prefetch: int | None = None) -> Iterator[R]:
    """fn(item) for each item, in order. workers <= 1 runs in this process."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    prefetch = prefetch or 2 * workers
    pool = _pool(workers)
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= prefetch:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per size for the life of the process: starting a worker imports numpy and the
    stage modules (a second or two), so the partitions and stages of one run share them."""
    pool = _POOLS.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        pool = _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    return pool


@atexit.register
def shutdown() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()
