"""The streaming corpus stages give the same outputs as the in-memory pipeline of ad490dc.

tests/fixtures/processing/ holds the 190 starter documents of that day plus planted duplicates
(input.json.gz) and what the old code made of them (golden.json, written by make_golden.py before
the stages were rewritten): per stage the ids, a sha256 of every text, the duplicate pairs with
their reasons and similarities, the split of every id, the leakage pairs and the statistics.
"""

import gzip
import json
import sys
from pathlib import Path

import pytest

from alslm_ml.documents import RAW_COLUMNS
from alslm_ml.processing import store, tables

FIXTURES = Path(__file__).parent / "fixtures" / "processing"
sys.path.insert(0, str(FIXTURES))
import make_golden  # noqa: E402


@pytest.fixture(scope="module")
def golden():
    with gzip.open(FIXTURES / "input.json.gz", "rt", encoding="utf-8") as f:
        rows = json.load(f)
    expected = json.loads((FIXTURES / "golden.json").read_text())
    assert sorted(r["id"] for r in rows) == expected["input_ids"]
    return rows, expected


def _compare(got: dict, expected: dict) -> None:
    for stage in ("clean", "corpus", "duplicates", "splits", "leakage", "stats"):
        assert got[stage] == expected[stage], f"stage {stage!r} differs from the ad490dc reference"


def test_in_memory_functions_match_the_reference(golden):
    rows, expected = golden
    _compare(make_golden.run_reference(rows), expected)


def test_duckdb_stages_in_batches_match_the_reference(golden, tmp_path):
    """raw_documents -> clean (per source) -> corpus -> corpus_splits -> stats through DuckDB
    tables, in small batches, dedup with two worker processes."""
    rows, expected = golden
    con = store.connect(tmp_path / "w.duckdb")
    con.execute("CREATE SCHEMA alslm")
    con.execute("CREATE TABLE alslm.raw_documents (" + ", ".join(f"{c} VARCHAR" for c in RAW_COLUMNS) + ")")
    store.append(con, "alslm.raw_documents", rows, store.RAW_TYPES)

    reports = {}
    for source in make_golden.SOURCES_BY_PARTITION:
        rep = tables.clean_partition(con, source, min_tokens=100, batch_rows=40)
        reports[source] = {**rep.as_metadata(), "dropped_short_ids": rep.dropped_short}
    summary = tables.dedup_corpus(con, 0.85, 128, 8, 100, batch_rows=37, workers=2)
    split = tables.split_corpus(con, 0.1, 42, 0.7, batch_rows=53)
    stats = tables.table_stats(con, "corpus_splits", batch_rows=29)

    def read(name):
        cur = con.execute(f"SELECT * FROM alslm.{name}")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    clean_rows, corpus_rows, dup_rows, split_rows = (read(n) for n in ("clean_documents", "corpus", "corpus_duplicates", "corpus_splits"))
    got = make_golden.summarize(clean_rows, reports, corpus_rows, dup_rows, split_rows, split.leaks, stats)
    _compare(got, expected)
    assert summary.documents_out == len(expected["corpus"]["ids"]) and summary.index_bytes["minhash_lsh"] > 0
    for table_rows in (corpus_rows, split_rows):  # written in (source, id) order, which readers rely on
        keys = [(r["source"], r["id"]) for r in table_rows]
        assert keys == sorted(keys)
    assert [t for b in tables.split_texts(con, "val", batch_rows=7) for t in b] == [r["text"] for r in split_rows if r["split"] == "val"]
    assert split.val == sum(v == "val" for v in expected["splits"].values())
    # no staging table is left behind
    left = con.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_staging%'").fetchall()
    assert left == []
