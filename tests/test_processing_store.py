"""The DuckDB side of the streaming stages: batches, one-transaction table swaps, partition
replacement, and a stage that fails halfway leaving the previous table intact."""

import duckdb
import pytest
from test_processing import doc, prose  # noqa: E402

from alslm_ml.processing import store, tables
from alslm_ml.processing.dedup import Deduplicator


@pytest.fixture()
def con(tmp_path):
    c = store.connect(tmp_path / "w.duckdb")
    c.execute("CREATE SCHEMA alslm")
    yield c
    c.close()


def raw(con, rows):
    if not store.exists(con, "raw_documents"):
        con.execute("CREATE TABLE alslm.raw_documents (" + ", ".join(f"{c} {t}" for c, t in store.RAW_TYPES.items()) + ")")
    store.append(con, "alslm.raw_documents", rows, store.RAW_TYPES)


def test_batches_are_bounded_and_complete(con):
    raw(con, [doc(i, f"text {i}") for i in range(25)])
    sizes = [len(b) for b in store.batches(con, "SELECT * FROM alslm.raw_documents ORDER BY id", batch_rows=10)]
    assert sizes == [10, 10, 5]


def test_clean_partition_replaces_only_its_partition(con, tmp_path):
    raw(con, [doc(i, prose(i, 200), source="pubmed") for i in range(6)] + [doc(i, prose(50 + i, 200)) for i in range(4)])
    tables.clean_partition(con, "pubmed", batch_rows=4)
    tables.clean_partition(con, "starter", batch_rows=4)
    con.execute("DELETE FROM alslm.raw_documents WHERE source = 'pubmed' AND id > 'pubmed:0002'")
    rep = tables.clean_partition(con, "pubmed", batch_rows=4)
    assert rep.documents_in == 3
    got = dict(con.execute("SELECT source, count(*) FROM alslm.clean_documents GROUP BY source").fetchall())
    assert got == {"pubmed": 3, "starter": 4}
    with pytest.raises(ValueError, match="alslm.raw_documents does not exist"):
        tables.clean_partition(store.connect(tmp_path / "empty.duckdb"), "pubmed")


def test_a_failing_dedup_leaves_the_previous_corpus_intact(con, monkeypatch):
    raw(con, [doc(i, prose(i, 300)) for i in range(30)])
    tables.clean_partition(con, "starter")
    tables.dedup_corpus(con, batch_rows=10)
    before = con.execute("SELECT id, text FROM alslm.corpus ORDER BY id").fetchall()
    assert len(before) == 30

    calls = {"n": 0}
    real = Deduplicator.process

    def crash_on_second_batch(self, batch, *a):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(self, batch, *a)

    monkeypatch.setattr(Deduplicator, "process", crash_on_second_batch)
    con.execute("DELETE FROM alslm.clean_documents WHERE id < 'starter:0005'")
    with pytest.raises(RuntimeError, match="simulated crash"):
        tables.dedup_corpus(con, batch_rows=10)
    assert con.execute("SELECT id, text FROM alslm.corpus ORDER BY id").fetchall() == before
    monkeypatch.undo()
    tables.dedup_corpus(con, batch_rows=10)  # a rerun replaces it and clears the leftover staging table
    assert con.execute("SELECT count(*) FROM alslm.corpus").fetchone()[0] == 25


def test_swap_in_is_all_or_nothing(con):
    con.execute("CREATE TABLE alslm.a AS SELECT 1 AS x")
    con.execute("CREATE TABLE alslm.b AS SELECT 1 AS x")
    con.execute("CREATE TABLE alslm._staging_a AS SELECT 2 AS x")
    with pytest.raises(duckdb.CatalogException, match="_staging_missing"):
        store.swap_in(con, {"a": "alslm._staging_a", "b": "alslm._staging_missing"})
    assert con.execute("SELECT x FROM alslm.a").fetchone() == (1,) and con.execute("SELECT x FROM alslm.b").fetchone() == (1,)
    store.swap_in(con, {"a": "alslm._staging_a"})
    assert con.execute("SELECT x FROM alslm.a").fetchone() == (2,)
