"""The chunk index in Qdrant: a named dense vector ("dense", cosine) and a sparse BM25 vector
("bm25", IDF applied by Qdrant) per chunk, with the chunk's provenance as payload.

Two stores behind one small interface:
- EdgeStore: Qdrant's engine in-process (qdrant-edge-py), persisted under data/qdrant/. The
  embedded default.
- ServerStore: a Qdrant server through qdrant-client, chosen by QDRANT_URL, for corpora beyond one
  machine.

Re-building replaces the index atomically: a new shard directory (or server collection) is filled
completely, then `data/qdrant/<name>` (a symlink) or the server alias is switched to it in one
step. A build that fails leaves the previous index untouched and usable.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import shutil
import tempfile
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alslm_ml.paths import sub

COLLECTION = "alslm_chunks"
DENSE, SPARSE = "dense", "bm25"
MATERIALIZE_HINT = "dagster asset materialize -m alslm_assets --select vector_index"
SERVER_TIMEOUT_S = 5


class IndexMissingError(FileNotFoundError):
    """No vector index where one was expected."""


class QdrantUnavailableError(ConnectionError, RuntimeError):
    """The Qdrant server named by QDRANT_URL does not answer."""


@dataclass
class Hit:
    id: int
    score: float
    payload: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.payload.get("text", "")


@dataclass
class Record:
    """One chunk ready for the index."""

    id: int
    dense: Sequence[float]
    sparse_indices: Sequence[int]
    sparse_values: Sequence[float]
    payload: dict


def qdrant_root() -> Path:
    return sub("qdrant")


def server_url() -> str | None:
    return os.environ.get("QDRANT_URL") or None


# ---------------------------------------------------------------- BM25 document frequencies

BM25_DF_FILE = "bm25_df.json"  # sidecar next to the shard (server: the collection's metadata key "bm25_df")
DF_MIN_SHARE = 0.005  # terms in fewer than this share of the chunks are not listed: never pruned


class DfCounter:
    """Document frequency of each BM25 term id over the sparse vectors written into an index
    (each vector lists a term once, so counting ids counts chunks)."""

    def __init__(self) -> None:
        from collections import Counter

        self.points, self.df = 0, Counter()

    def add(self, sparse_indices) -> None:
        self.points += 1
        self.df.update(sparse_indices)  # ~5 s per million chunks of ~60 terms, ≈ 1 % of a build

    def table(self, min_share: float = DF_MIN_SHARE) -> dict:
        """The sidecar: chunks counted and the df of every term in at least `min_share` of them
        (only common terms can be pruned; rarer ones are not needed, which keeps it small: at most
        (terms per chunk) / min_share entries)."""
        floor = max(1, int(min_share * self.points))
        terms = {str(int(t)): int(c) for t, c in sorted(self.df.items()) if c >= floor}
        return {"points": self.points, "min_share": min_share, "terms": terms}


@dataclass(frozen=True)
class Bm25Pruning:
    """Query-time pruning of the BM25 query: a term in more than `max_df_share` of the chunks is
    dropped from the search (its IDF is small, its posting list long: at a million chunks the
    sparse prefetch walked every common term's list), keeping at least the `keep` rarest terms;
    at most `max_terms` terms (the rarest) when set. The `rescore` best chunks of the pruned query
    are then scored with the whole query (the engine reads their stored vectors), so the scores
    are the unpruned BM25 scores and the ranking changes only where a chunk of the unpruned top
    falls outside those candidates. `rescore` 0: the pruned query's own scores. `max_df_share`
    None: no pruning. Indexes under `min_points` chunks are not pruned: there the whole BM25
    search costs less than the rescoring (0.11 vs 0.24 ms at 5K chunks, 0.50 vs 0.74 ms at 100K;
    docs/performance.md), and in a small corpus a topic word can be in a fifth of the chunks
    (tofersen in 5 of 24)."""

    max_df_share: float | None = 0.2
    keep: int = 2
    max_terms: int | None = None
    rescore: int = 100
    min_points: int = 200_000


DEFAULT_PRUNING = Bm25Pruning()
NO_PRUNING = Bm25Pruning(max_df_share=None)


def prune_query(sparse, df_table: dict | None, pruning: Bm25Pruning = DEFAULT_PRUNING):
    """(indices, values) of a BM25 query with the common terms removed (see Bm25Pruning). No df
    table (an index built before the sidecar) or no threshold: the query unchanged. Terms not in
    the table are rarer than every listed one (df below its floor) and count as df 0."""
    if not df_table or pruning.max_df_share is None or sparse is None:
        return sparse
    n = max(1, int(df_table.get("points") or 0))
    if n < pruning.min_points:
        return sparse  # every query of a small index (the starter's) stops here
    if pruning.max_df_share < float(df_table.get("min_share", 0.0)):
        return sparse  # the table cannot say which terms are above a threshold below its floor
    idx, val, terms = list(sparse[0]), list(sparse[1]), df_table.get("terms") or {}
    df = [int(terms.get(str(int(t)), 0)) for t in idx]
    order = sorted(range(len(idx)), key=lambda i: (df[i], -val[i], i))  # rarest first
    kept = [i for i in order if df[i] / n <= pruning.max_df_share]
    if len(kept) < pruning.keep:
        kept = order[: pruning.keep]
    if pruning.max_terms:
        kept = kept[: max(pruning.max_terms, pruning.keep)]
    kept.sort()
    return [int(idx[i]) for i in kept], [float(val[i]) for i in kept]


class Store(ABC):
    """Read side of the index: hybrid / dense / sparse search with optional per-source filter.
    `bm25_df` is the index's BM25 document-frequency table (None for an index built without
    one); `pruning` says which common terms a BM25 query drops with it (prune_query)."""

    meta: dict
    bm25_df: dict | None = None
    pruning: Bm25Pruning = DEFAULT_PRUNING

    def sparse_query(self, sparse) -> tuple:
        """(the BM25 query that scores, the pruned query that finds the candidates it scores, or
        None: search with the first alone). Unpruned: (sparse, None); pruned without rescoring:
        (pruned, None)."""
        if sparse is None:
            return None, None
        pruned = prune_query(sparse, self.bm25_df, self.pruning)
        if len(pruned[0]) == len(sparse[0]):
            return sparse, None
        return (sparse, pruned) if self.pruning.rescore else (pruned, None)

    @abstractmethod
    def search(
        self,
        dense: Sequence[float] | None,
        sparse: tuple[Sequence[int], Sequence[float]] | None,
        k: int = 5,
        mode: str = "hybrid",
        sources: Sequence[str] | None = None,
        prefetch: int = 20,
        rrf_k: int = 60,
    ) -> list[Hit]: ...

    @abstractmethod
    def count(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


TIE_MARGIN = 8  # extra hits a single-list search asks for, so ties at the k-th place are seen whole


def _stable_top(points, k: int, payloads) -> list[Hit]:
    """The k best hits, ties broken by chunk id. Fused (RRF) scores tie often — two chunks whose
    dense and sparse ranks are swapped score the same — and the engine orders ties arbitrarily, so
    the same shard once gave another top 5 for 22 of 100 questions. Fusion is therefore asked for
    every candidate (ids and scores only) and the order fixed here; `payloads(ids)` -> {id: payload}
    then fetches the texts of the k kept."""
    top = sorted(((float(p.score), int(p.id)) for p in points), key=lambda t: (-t[0], t[1]))[:k]
    found = payloads([i for _, i in top]) if top else {}
    return [Hit(i, score, found.get(i, {})) for score, i in top]


def _check_mode(mode: str, dense, sparse) -> None:
    if mode not in ("hybrid", "dense", "sparse"):
        raise ValueError(f"search mode {mode!r}: expected hybrid, dense or sparse")
    if mode in ("hybrid", "dense") and dense is None:
        raise ValueError(f"search mode {mode!r} needs a dense query vector")
    if mode in ("hybrid", "sparse") and sparse is None:
        raise ValueError(f"search mode {mode!r} needs a sparse query vector")


# ---------------------------------------------------------------- Qdrant engine in-process


class EdgeStore(Store):
    def __init__(self, path: Path):
        import qdrant_edge as qe

        self.qe = qe
        self.path = Path(path)
        if not self.path.exists():
            raise IndexMissingError(f"no vector index at {self.path}; build it with: {MATERIALIZE_HINT}")
        meta_file = self.path / "alslm_index.json"
        self.meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        df_file = self.path / BM25_DF_FILE
        self.bm25_df = json.loads(df_file.read_text()) if df_file.exists() else None  # older index: none
        self.view = read_only_view(self.path.resolve())
        # removed by close(), or when the store is garbage-collected / the process exits
        self._drop_view = weakref.finalize(self, shutil.rmtree, str(self.view), True)
        self.shard = qe.EdgeShard.load(str(self.view))
        # search-time HNSW candidates the index was built for (bench_retrieval may override it)
        self.hnsw_ef = (self.meta.get("index_settings") or {}).get("hnsw_ef")

    def _filter(self, sources):
        if not sources:
            return None
        qe = self.qe
        return qe.Filter(must=[qe.FieldCondition(key="source", match=qe.MatchAny(any=list(sources)))])

    def search(self, dense, sparse, k=5, mode="hybrid", sources=None, prefetch=20, rrf_k=60):
        _check_mode(mode, dense, sparse)
        qe, flt = self.qe, self._filter(sources)
        dense_params = qe.SearchParams(hnsw_ef=max(self.hnsw_ef, prefetch, k)) if self.hnsw_ef else None
        dq = qe.Query.Nearest(_floats(dense), using=DENSE) if dense is not None else None
        scoring, finding = self.sparse_query(sparse)
        sq = self._sparse(scoring)
        # pruned: the pruned query finds the candidates, the whole query scores them
        inner = ([qe.Prefetch(limit=max(self.pruning.rescore, prefetch, k + TIE_MARGIN), query=self._sparse(finding), filter=flt)]
                 if finding is not None else None)
        if mode == "hybrid":
            req = qe.QueryRequest(
                limit=2 * max(prefetch, k),  # every fused candidate: _stable_top fixes the order of ties
                prefetches=[qe.Prefetch(limit=max(prefetch, k), query=dq, filter=flt, params=dense_params),
                            qe.Prefetch(limit=max(prefetch, k), query=sq, filter=flt, prefetches=inner)],
                query=qe.Fusion.Rrf(k=rrf_k),
                with_payload=False,
            )
        else:
            req = qe.QueryRequest(limit=k + TIE_MARGIN, query=dq if mode == "dense" else sq, filter=flt,
                                  prefetches=inner if mode == "sparse" else None,
                                  with_payload=False, params=dense_params if mode == "dense" else None)
        return _stable_top(self.shard.query(req), k, self._payloads)

    def _sparse(self, sparse):
        if sparse is None:
            return None
        qe = self.qe
        return qe.Query.Nearest(qe.SparseVector(indices=list(map(int, sparse[0])), values=list(map(float, sparse[1]))), using=SPARSE)

    def _payloads(self, ids: list[int]) -> dict[int, dict]:
        return {int(p.id): dict(p.payload or {}) for p in self.shard.retrieve(ids, True, False)}

    def count(self) -> int:
        return int(self.shard.count(self.qe.CountRequest(exact=True)))

    def close(self) -> None:
        if getattr(self, "shard", None) is not None:
            self.shard.close()
            self.shard = None
        if getattr(self, "view", None) is not None:
            self._drop_view()
            self.view = None


def write_bm25_df(live: Path) -> dict:
    """Count the BM25 document frequencies of an existing edge shard (one built before the
    sidecar) and write its `bm25_df.json`, so its queries can be pruned without re-embedding.
    Only the sidecar is written into the shard folder; the engine's files are read, in a view."""
    store = EdgeStore(live)
    try:
        qe, df, offset = store.qe, DfCounter(), None
        while True:
            recs, offset = store.shard.scroll(qe.ScrollRequest(offset=offset, limit=1000, with_payload=False,
                                                               with_vector=[SPARSE]))
            for r in recs:
                sp = (r.vector or {}).get(SPARSE)
                df.add(sp.indices if sp is not None else [])
            if offset is None:
                break
    finally:
        store.close()
    table = df.table()
    tmp = Path(live) / f".{BM25_DF_FILE}.tmp"
    tmp.write_text(json.dumps(table, separators=(",", ":")))
    os.replace(tmp, Path(live) / BM25_DF_FILE)
    return table


# Files qdrant-edge rewrites whenever it loads a shard (same bytes, new mtime; journals come and
# go). They are copied into the private view; every other large file (vectors, payload pages: the
# bulk) is a hard link to the shard's own file, which loading and querying only read (the engine
# does not follow symlinks; across file systems the file is copied).
_REWRITTEN = ("edge_config.json", "segment.json", "tracker.dat", "tracker_journal.dat", "status.dat", "flags_*.dat")
_LINK_OVER = 4 * 1024 * 1024


_VIEW_PREFIX = "alslm-qdrant-view-"


def _sweep_views() -> None:
    """Remove views left by processes that were killed (their pid is in the folder name)."""
    for p in Path(tempfile.gettempdir()).glob(f"{_VIEW_PREFIX}*"):
        try:
            pid = int(p.name[len(_VIEW_PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue  # not ours to judge (another user's, or an old unnamed one)


def read_only_view(shard: Path) -> Path:
    """A private temporary view of a shard for querying, so a query never writes into the index
    folder (qdrant-edge has no read-only open): small files and those the engine rewrites are
    copied, large data files hard-linked. EdgeStore.close() removes it."""
    _sweep_views()
    view = Path(tempfile.mkdtemp(prefix=f"{_VIEW_PREFIX}{os.getpid()}-"))
    try:
        for src in shard.rglob("*"):
            dst = view / src.relative_to(shard)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            rewritten = any(fnmatch.fnmatchcase(src.name, p) for p in _REWRITTEN)
            if rewritten or src.stat().st_size <= _LINK_OVER:
                shutil.copy2(src, dst)
                continue
            try:
                os.link(src, dst)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(src, dst)
    except BaseException:
        shutil.rmtree(view, ignore_errors=True)
        raise
    return view


@dataclass(frozen=True)
class IndexSettings:
    """How the shard is built, and the search ef it is queried with. bench_retrieval.py --parts
    settings measures the alternatives side by side (build chunks/s, recall@10 against exact
    search, query latency); docs/retrieval.md has the table. Against Qdrant's defaults: an HNSW
    build with 64 candidates instead of 100 (the optimize step 1.2-2.6x faster at 100K chunks,
    recall no worse at equal search ef) and a search ef of 256 instead of 100 (recall@10 0.90-0.92
    vs 0.71-0.81 on the clustered synthetic set, +0.5 ms)."""

    m: int = 16  # HNSW edges per node
    ef_construct: int = 64  # HNSW build candidates (Qdrant's default: 100)
    payload_m: int | None = None  # extra per-value HNSW links for filtered search; 0: none (None: = m)
    int8: bool = False  # scalar int8 quantization of the dense vectors (kept in RAM, originals rescore)
    on_disk_vectors: bool = False  # original dense vectors memory-mapped, not loaded
    on_disk_payload: bool = True  # payload pages read on demand (Qdrant's default)
    upsert_batch: int = 0  # regroup points into upserts of this size; 0: as the caller batched them
    indexing_threads: int = 0  # HNSW build threads; 0: all cores
    full_scan_kb: int = 10_000  # below this many KB of vectors a segment is searched exactly (no HNSW)
    indexing_threshold_kb: int | None = None  # segments above this get an HNSW graph (None: Qdrant's 10,000)
    hnsw_ef: int | None = 256  # search-time HNSW candidates, recorded in the shard (None: Qdrant's, = ef_construct)
    sparse_datatype: str | None = None  # BM25 index values: Float32 / Float16 / Uint8 (None: Qdrant's, Float32)
    sparse_memory: str | None = None  # BM25 index placement: Pinned (RAM) / Cached / Cold (None: Qdrant's, Pinned)

    def sparse_params(self):
        import qdrant_edge as qe

        return qe.EdgeSparseVectorParams(
            modifier=qe.Modifier.Idf,
            datatype=getattr(qe.VectorStorageDatatype, self.sparse_datatype) if self.sparse_datatype else None,
            memory=getattr(qe.Memory, self.sparse_memory) if self.sparse_memory else None,
        )

    def edge_kwargs(self) -> dict:
        import qdrant_edge as qe

        kw = {
            "hnsw_config": qe.HnswIndexConfig(m=self.m, ef_construct=self.ef_construct, full_scan_threshold=self.full_scan_kb,
                                              max_indexing_threads=self.indexing_threads, payload_m=self.payload_m),
            "on_disk_payload": self.on_disk_payload,
        }
        if self.indexing_threshold_kb is not None:
            kw["optimizers"] = qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb)
        if self.int8:
            kw["quantization_config"] = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)
        return kw


DEFAULT_SETTINGS = IndexSettings()


def _edge_config(dim: int, settings: IndexSettings = DEFAULT_SETTINGS):
    import qdrant_edge as qe

    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, on_disk=settings.on_disk_vectors)},
        sparse_vectors={SPARSE: settings.sparse_params()},
        # The shard is written once, flushed, then only read. Without a WAL it takes no exclusive
        # lock, so several readers (the app, `alslm ask`, an evaluation, the asset check) can
        # open it at once, in one process or many.
        wal_enabled=False,
        **settings.edge_kwargs(),
    )


def _regroup(batches: Iterable[list], size: int):
    if size <= 0:
        yield from batches
        return
    buf: list = []
    for b in batches:
        buf.extend(b)
        while len(buf) >= size:
            yield buf[:size]
            buf = buf[size:]
    if buf:
        yield buf


def _floats(v) -> list[float]:
    return v.tolist() if hasattr(v, "tolist") else list(map(float, v))  # numpy rows: one C call


def build_edge(
    records: Iterable[list[Record]], dim: int, meta: dict, name: str = COLLECTION, root: Path | None = None,
    extra=None, settings: IndexSettings | None = None,
) -> Path:
    """Fill a new shard from batches of records, then point `root/name` at it atomically.
    Returns the path of the live index (the symlink). `extra()`, when given, adds metadata known
    only once the records are consumed (e.g. the number of documents of a streamed corpus).
    The points go into an appendable segment without an HNSW graph; the one `optimize()` at the
    end builds the graph once over everything (the seconds of each step land in the metadata)."""
    import qdrant_edge as qe

    root = Path(root or qdrant_root())
    live = root / name
    version = root / f"{name}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    try:
        settings = settings or DEFAULT_SETTINGS
        shard = qe.EdgeShard.create(str(version), _edge_config(dim, settings))
        try:
            for f in ("source", "doc_id"):
                shard.update(qe.UpdateOperation.create_field_index(f, qe.PayloadSchemaType.Keyword))
            n, t_upsert, t0, df = 0, 0.0, time.perf_counter(), DfCounter()
            for batch in _regroup(records, settings.upsert_batch):
                for r in batch:
                    df.add(r.sparse_indices)
                points = [
                    qe.Point(
                        id=r.id,
                        vector={
                            DENSE: _floats(r.dense),
                            SPARSE: qe.SparseVector(indices=list(map(int, r.sparse_indices)), values=_floats(r.sparse_values)),
                        },
                        payload=r.payload,
                    )
                    for r in batch
                ]
                if points:
                    t = time.perf_counter()
                    shard.update(qe.UpdateOperation.upsert_points(points))
                    t_upsert += time.perf_counter() - t
                    n += len(points)
            t_records = time.perf_counter() - t0 - t_upsert  # producing and converting the records
            t = time.perf_counter()
            shard.flush()
            shard.optimize()
            shard.flush()
            t_optimize = time.perf_counter() - t
        finally:
            shard.close()
        timings = {"records_s": round(t_records, 3), "upsert_s": round(t_upsert, 3), "optimize_s": round(t_optimize, 3)}
        df_table = df.table()
        df_text = json.dumps(df_table, separators=(",", ":"))
        (version / BM25_DF_FILE).write_text(df_text)
        (version / "alslm_index.json").write_text(json.dumps(
            {**meta, **(extra() if extra else {}), "points": n, "dim": dim, "build_timings": timings,
             "index_settings": dataclasses.asdict(settings),
             "bm25_df": {"file": BM25_DF_FILE, "terms": len(df_table["terms"]), "bytes": len(df_text)}}, indent=2))
        _swap_symlink(live, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    _prune(root, name, keep={version.name})
    return live


def _swap_symlink(live: Path, target: Path) -> None:
    """Point `live` at `target` in one rename (atomic on POSIX)."""
    if live.exists() and not live.is_symlink():
        raise FileExistsError(f"{live} is a directory, not the index symlink; move it away and rebuild")
    tmp = live.with_name(f".{live.name}.swap-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target.name)
    os.replace(tmp, live)


def _prune(root: Path, name: str, keep: set[str]) -> None:
    """Delete older shard versions (processes that still have one open keep their mapped files)."""
    for p in root.glob(f"{name}.*"):
        if p.is_dir() and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------- Qdrant server


class ServerStore(Store):
    """A collection (reached through an alias) on a Qdrant server, or any qdrant-client location."""

    def __init__(self, client, name: str = COLLECTION):
        self.client, self.name = client, name
        try:
            exists = client.collection_exists(name)
        except Exception as e:
            raise QdrantUnavailableError(f"Qdrant server at {_url_of(client)} does not answer ({type(e).__name__}: {e})") from e
        if not exists:
            raise IndexMissingError(f"no collection {name!r} on Qdrant at {_url_of(client)}; build it with: {MATERIALIZE_HINT}")
        self.meta = dict(getattr(client.get_collection(name).config, "metadata", None) or {})
        self.bm25_df = self.meta.pop("bm25_df", None)  # kept out of meta: describe() shows meta

    def search(self, dense, sparse, k=5, mode="hybrid", sources=None, prefetch=20, rrf_k=60):
        from qdrant_client import models as m

        _check_mode(mode, dense, sparse)
        flt = m.Filter(must=[m.FieldCondition(key="source", match=m.MatchAny(any=list(sources)))]) if sources else None
        dq = list(map(float, dense)) if dense is not None else None
        scoring, finding = self.sparse_query(sparse)

        def vec(sp):
            return m.SparseVector(indices=list(map(int, sp[0])), values=list(map(float, sp[1]))) if sp is not None else None

        sq = vec(scoring)
        # pruned: the pruned query finds the candidates, the whole query scores them (EdgeStore.search)
        inner = ([m.Prefetch(query=vec(finding), using=SPARSE, limit=max(self.pruning.rescore, prefetch, k + TIE_MARGIN), filter=flt)]
                 if finding is not None else None)
        try:
            if mode == "hybrid":
                res = self.client.query_points(
                    self.name,
                    prefetch=[
                        m.Prefetch(query=dq, using=DENSE, limit=max(prefetch, k), filter=flt),
                        m.Prefetch(query=sq, using=SPARSE, limit=max(prefetch, k), filter=flt, prefetch=inner),
                    ],
                    query=m.RrfQuery(rrf=m.Rrf(k=rrf_k)),
                    limit=2 * max(prefetch, k),  # every fused candidate: _stable_top fixes the order of ties
                    with_payload=True,
                )
            else:
                res = self.client.query_points(
                    self.name, query=dq if mode == "dense" else sq, using=DENSE if mode == "dense" else SPARSE,
                    prefetch=inner if mode == "sparse" else None, query_filter=flt, limit=k + TIE_MARGIN, with_payload=True,
                )
        except Exception as e:
            if _is_connection_error(e):
                raise QdrantUnavailableError(f"Qdrant server at {_url_of(self.client)} does not answer ({e})") from e
            raise
        # one round trip: the server sends the payloads with the candidates
        return _stable_top(res.points, k, lambda ids: {int(p.id): dict(p.payload or {}) for p in res.points})

    def count(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def close(self) -> None:
        self.client.close()


def _url_of(client) -> str:
    return server_url() or getattr(getattr(client, "_client", None), "location", None) or "local"


def _is_connection_error(e: Exception) -> bool:
    import httpx

    return isinstance(e, (httpx.TransportError, ConnectionError, TimeoutError)) or "Connection" in type(e).__name__


def server_client(url: str | None = None, timeout: int = SERVER_TIMEOUT_S):
    """qdrant-client for QDRANT_URL (or `url`), with short timeouts so a dead server fails fast."""
    from qdrant_client import QdrantClient

    url = url or server_url()
    if not url:
        raise ValueError("no Qdrant server configured: set QDRANT_URL (e.g. http://localhost:6333)")
    return QdrantClient(url=url, timeout=timeout, api_key=os.environ.get("QDRANT_API_KEY") or None,
                        check_compatibility=False)


def build_server(client, records: Iterable[list[Record]], dim: int, meta: dict, name: str = COLLECTION) -> str:
    """Fill a new collection, then move the alias `name` to it in one step; drop the old one."""
    from qdrant_client import models as m

    version = f"{name}_{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
    try:
        client.create_collection(
            version,
            vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            metadata={**meta, "dim": dim},
        )
    except Exception as e:
        if _is_connection_error(e):
            raise QdrantUnavailableError(f"Qdrant server at {_url_of(client)} does not answer ({e})") from e
        raise
    try:
        for f in ("source", "doc_id"):
            client.create_payload_index(version, f, m.PayloadSchemaType.KEYWORD)
        df = DfCounter()
        for batch in records:
            for r in batch:
                df.add(r.sparse_indices)
            if batch:
                client.upsert(
                    version,
                    points=[
                        m.PointStruct(
                            id=r.id,
                            vector={DENSE: list(map(float, r.dense)), SPARSE: m.SparseVector(indices=list(map(int, r.sparse_indices)), values=list(map(float, r.sparse_values)))},
                            payload=r.payload,
                        )
                        for r in batch
                    ],
                    wait=True,
                )
        client.update_collection(version, metadata={"bm25_df": df.table()})  # the df sidecar, before the swap
        old = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == name]
        ops = [m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=name))] if old else []
        ops.append(m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=version, alias_name=name)))
        client.update_collection_aliases(change_aliases_operations=ops)
    except BaseException:
        client.delete_collection(version)
        raise
    for o in old:
        if o != version:
            client.delete_collection(o)
    return version


def open_store(name: str = COLLECTION, root: Path | None = None) -> Store:
    """The live index: QDRANT_URL's server if set, else the in-process shard under data/qdrant/."""
    if server_url():
        return ServerStore(server_client(), name)
    return EdgeStore(Path(root or qdrant_root()) / name)
