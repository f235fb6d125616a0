"""The retrieval assets materialize through Dagster on a corpus table and leave a live index."""

import sys
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, AssetSpec, InMemoryIOManager, materialize
from dagster_duckdb import DuckDBResource

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "rag"))
import ragkit  # noqa: E402

from alslm_assets.assets import retrieval  # noqa: E402
from alslm_ml.rag.index import open_store  # noqa: E402


def _corpus_table(tmp_path) -> DuckDBResource:
    """The alslm.corpus table the corpus asset writes, with three documents."""
    frame = ragkit.mini_corpus().head(3)  # noqa: F841 (read by DuckDB)
    db = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(db) as con:
        con.execute("CREATE SCHEMA alslm")
        con.execute("CREATE TABLE alslm.corpus AS SELECT * FROM frame")
    return DuckDBResource(database=db)


@pytest.mark.slow
def test_retrieval_assets_materialize(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    res = materialize(
        [AssetSpec("corpus"), retrieval.embedding_model, retrieval.vector_index, retrieval.vector_index_answers],
        resources={"io_manager": InMemoryIOManager(), "duckdb": _corpus_table(tmp_path)},
        selection=["embedding_model", "vector_index"],
        run_config={"ops": {"vector_index": {"config": {"chunk_tokens": 128, "overlap": 16}}}},
    )
    assert res.success
    meta = res.asset_materializations_for_node("vector_index")[0].metadata
    assert meta["documents"].value == 3 and meta["chunks"].value > 3
    assert (tmp_path / "models" / "all-MiniLM-L6-v2-onnx" / "model.onnx").exists()
    checks = res.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks) and checks[0].asset_key == AssetKey("vector_index")
    store = open_store()
    assert store.count() == meta["chunks"].value
    store.close()
