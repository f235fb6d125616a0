"""Shared resources. Table assets go through the DuckDB pandas IO manager (partitioned tables are
replaced one partition at a time); file assets write under the data directory and return
MaterializeResult."""

from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasIOManager

from alslm_ml.paths import warehouse_path

SCHEMA = "alslm"


def shared_resources() -> dict:
    db = str(warehouse_path())
    return {
        "io_manager": DuckDBPandasIOManager(database=db, schema=SCHEMA),
        "duckdb": DuckDBResource(database=db),
    }
