"""The corpus stages over DuckDB tables, in bounded batches: raw_documents -> clean_documents (one
source partition) -> corpus + corpus_duplicates -> corpus_splits -> statistics / text batches.

No stage holds the corpus in Python: rows stream from a DuckDB query in batches of `batch_rows`,
the pure per-batch work can run in `workers` processes (`parallel.imap`), and results are appended
to a staging table that replaces the real one in one transaction (`store`). What grows with the
corpus is the dedup / split index only, and its size is reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import pyarrow as pa

from alslm_ml.documents import RAW_COLUMNS
from alslm_ml.processing import store
from alslm_ml.processing.clean import CleanReport, clean_documents
from alslm_ml.processing.dedup import NUM_PERM, Deduplicator, fingerprint_batch
from alslm_ml.processing.parallel import imap
from alslm_ml.processing.split import NearDuplicateGroups, assign_splits, leaks_across
from alslm_ml.processing.stats import StatsAccumulator

Log = Callable[[str], None]
_COLS = ", ".join(f'"{c}"' for c in RAW_COLUMNS)


def _noop(_: str) -> None:
    pass


def _clean_batch(rows: list[dict], min_tokens: int) -> tuple[list[dict], CleanReport]:
    return clean_documents(rows, min_tokens=min_tokens)


def clean_partition(con, source: str, min_tokens: int = 100, batch_rows: int = store.BATCH_ROWS,
                    workers: int = 1, log: Log = _noop) -> CleanReport:
    """Clean raw_documents[source] into clean_documents[source] (ordered by id), replacing only
    that partition, in one transaction."""
    store.require(con, "raw_documents", "materialize `raw_documents` first")
    staging = store.create_staging(con, f"clean_documents_{source}", store.CLEAN_TYPES)
    report = CleanReport()
    rows = store.batches(con, f"SELECT {_COLS} FROM {store.table('raw_documents')} WHERE source = ? ORDER BY id", [source], batch_rows)
    for kept, rep in imap(partial(_clean_batch, min_tokens=min_tokens), rows, workers):
        store.append(con, staging, kept, store.CLEAN_TYPES)
        report.merge(rep)
        if report.documents_in % (batch_rows * 20) < batch_rows:
            log(f"clean {source}: {report.documents_in:,} documents read, {report.documents_out:,} kept")
    store.replace_partition(con, "clean_documents", staging, "source", source)
    return report


@dataclass
class DedupSummary:
    documents_in: int = 0
    documents_out: int = 0
    tokens: int = 0
    chars: int = 0
    removed: Counter = field(default_factory=Counter)  # kind -> rows (document / paragraph / residue)
    by_source: dict = field(default_factory=dict)
    index_bytes: dict = field(default_factory=dict)


def dedup_corpus(con, threshold: float = 0.85, num_perm: int = NUM_PERM, min_paragraph_words: int = 8,
                 min_tokens: int = 100, batch_rows: int = store.BATCH_ROWS, workers: int = 1, log: Log = _noop) -> DedupSummary:
    """clean_documents -> corpus + corpus_duplicates (both swapped in together), visiting documents
    in (source, id) order as `dedup_documents` does."""
    store.require(con, "clean_documents", "materialize the `clean_documents` partitions first")
    kept_stage = store.create_staging(con, "corpus", store.CLEAN_TYPES)
    dup_stage = store.create_staging(con, "corpus_duplicates", store.DUPLICATE_TYPES)
    dd = Deduplicator(threshold, num_perm, min_paragraph_words, min_tokens)
    rows = _ordered_clean_rows(con, batch_rows)
    n = 0
    for batch, hashes, sigs in imap(partial(fingerprint_batch, num_perm=num_perm), rows, workers):
        kept, dups = dd.process(batch, hashes, sigs)
        store.append(con, kept_stage, kept, store.CLEAN_TYPES)
        store.append(con, dup_stage, dups, store.DUPLICATE_TYPES)
        n += len(batch)
        if n % (batch_rows * 20) < batch_rows:
            log(f"dedup: {n:,} documents read; removed {dict(dd.counts)}")
    summary = DedupSummary(documents_in=dd.documents_in, removed=Counter(dd.counts), index_bytes=dd.index_bytes())
    summary.documents_out, summary.tokens, summary.chars = con.execute(
        f"SELECT count(*), coalesce(sum(n_tokens), 0), coalesce(sum(length(text)), 0) FROM {kept_stage}").fetchone()
    summary.by_source = dict(con.execute(f"SELECT source, count(*) FROM {kept_stage} GROUP BY source ORDER BY count(*) DESC, source").fetchall())
    store.swap_in(con, {"corpus": kept_stage, "corpus_duplicates": dup_stage})
    return summary


def _ordered_clean_rows(con, batch_rows: int) -> Iterator[list[dict]]:
    """clean_documents in (source, id) order, one partition at a time: DuckDB sorts a partition,
    never the whole table (a gigabyte sort would need its buffers or a long spill)."""
    q = f"SELECT DISTINCT source FROM {store.table('clean_documents')} ORDER BY source"
    for (source,) in con.execute(q).fetchall():
        yield from store.batches(con, f"SELECT {_COLS}, n_tokens FROM {store.table('clean_documents')} WHERE source = ? ORDER BY id",
                                 [source], batch_rows)


def duplicate_ids(con, name: str = "corpus", limit: int = 50) -> list[str]:
    q = f"SELECT id FROM {store.table(name)} GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT {int(limit)}"
    return [r[0] for r in con.execute(q).fetchall()]


@dataclass
class SplitSummary:
    train: int = 0
    val: int = 0
    by_source: dict = field(default_factory=dict)  # source -> {"train": n, "val": n}
    leaks: list = field(default_factory=list)
    near_duplicate_pairs: int = 0
    index_bytes: int = 0


def split_corpus(con, val_fraction: float = 0.1, seed: int = 42, leak_threshold: float = 0.7, num_perm: int = NUM_PERM,
                 batch_rows: int = store.BATCH_ROWS, workers: int = 1, log: Log = _noop) -> SplitSummary:
    """corpus -> corpus_splits: near-duplicate groups over batches, then the seeded stratified
    assignment (ids only), then corpus + split column in corpus order (a positional join). The
    leakage check is every confirmed near-duplicate pair (Jaccard >= leak_threshold) that
    straddles the split."""
    store.require(con, "corpus", "materialize `corpus` first")
    groups = NearDuplicateGroups(leak_threshold, num_perm)
    rows = store.batches(con, f"SELECT id, source, text FROM {store.table('corpus')}", None, batch_rows)
    for batch, hashes, sigs in imap(partial(fingerprint_batch, num_perm=num_perm), rows, workers):
        groups.add([{"id": d["id"], "source": d["source"]} for d in batch], hashes, sigs)
        if len(groups.parent) % (batch_rows * 20) < batch_rows:
            log(f"split: {len(groups.parent):,} documents grouped")
    ids = groups.index.ids
    val_ids = assign_splits(ids, groups.sources, groups.representatives(), val_fraction, seed)
    split_of = {i: ("val" if i in val_ids else "train") for i in ids}
    assign = pa.table({"id": ids, "split": [split_of[i] for i in ids]})  # noqa: F841 (read by DuckDB)
    staging = store.table("_staging_corpus_splits")
    con.execute(f"CREATE OR REPLACE TABLE {staging} AS SELECT c.*, a.split, a.id AS _check_id "
                f"FROM {store.table('corpus')} c POSITIONAL JOIN assign a")
    off = con.execute(f"SELECT count(*) FROM {staging} WHERE id IS DISTINCT FROM _check_id").fetchone()[0]
    if off:
        con.execute(f"DROP TABLE {staging}")
        raise RuntimeError(f"corpus changed while it was being split ({off} rows out of order); run corpus_splits again")
    con.execute(f"ALTER TABLE {staging} DROP COLUMN _check_id")
    summary = SplitSummary(index_bytes=groups.index.nbytes(), near_duplicate_pairs=len(groups.pairs))
    summary.leaks = leaks_across(groups.pairs, split_of)
    for source, split, n in con.execute(f"SELECT source, split, count(*) FROM {staging} GROUP BY ALL ORDER BY ALL").fetchall():
        summary.by_source.setdefault(source, {"train": 0, "val": 0})[split] = n
    summary.val = len(val_ids)
    summary.train = len(ids) - len(val_ids)
    store.swap_in(con, {"corpus_splits": staging})
    return summary


def _stats_batch(rows: list[dict], terms: list[str] | None) -> StatsAccumulator:
    acc = StatsAccumulator(terms)
    acc.add(rows)
    return acc


def table_stats(con, name: str = "corpus_splits", terms: list[str] | None = None, batch_rows: int = store.BATCH_ROWS,
                workers: int = 1) -> dict:
    """`corpus_stats` of a table, over batches (partial counters merged in order)."""
    store.require(con, name, f"materialize `{name}` first")
    cols = "source, text, n_tokens" + (", split" if name == "corpus_splits" else "")
    total = StatsAccumulator(terms)
    for part in imap(partial(_stats_batch, terms=total.terms), store.batches(con, f"SELECT {cols} FROM {store.table(name)}", None, batch_rows), workers):
        total.merge(part)
    return total.result()


def split_texts(con, split: str, batch_rows: int = store.BATCH_ROWS, max_chars: int | None = None) -> Iterator[list[str]]:
    """Texts of one split of corpus_splits, in batches, in table order, which is (source, id): the
    table is written in corpus order and DuckDB scans preserve insertion order (no sort of a
    gigabyte here); stops after `max_chars` characters when given."""
    store.require(con, "corpus_splits", "materialize `corpus_splits` first")
    seen = 0
    q = f"SELECT text FROM {store.table('corpus_splits')} WHERE split = ?"
    for rows in store.batches(con, q, [split], batch_rows):
        texts = [r["text"] for r in rows]
        yield texts
        seen += sum(map(len, texts))
        if max_chars is not None and seen >= max_chars:
            return


def split_counts(con) -> dict[str, int]:
    """Documents per split value in corpus_splits (to validate before training on it)."""
    store.require(con, "corpus_splits", "materialize `corpus_splits` first")
    return dict(con.execute(f"SELECT coalesce(split, 'NULL'), count(*) FROM {store.table('corpus_splits')} GROUP BY 1").fetchall())


def corpus_batches(con, name: str = "corpus", batch_rows: int = store.BATCH_ROWS, max_documents: int | None = None,
                   columns: tuple[str, ...] | None = None):
    """A corpus table as pandas DataFrames of `batch_rows` rows (all columns unless `columns`), in
    table order ((source, id) for corpus), the first `max_documents` rows only when given (a slice
    for the scale run)."""
    import pandas as pd

    store.require(con, name, f"materialize `{name}` first")
    cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    limit = f" LIMIT {int(max_documents)}" if max_documents is not None and max_documents >= 0 else ""
    for rows in store.batches(con, f"SELECT {cols} FROM {store.table(name)}{limit}", None, batch_rows):
        yield pd.DataFrame(rows, columns=list(columns) if columns else None)
