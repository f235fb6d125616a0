"""DuckDB table helpers for the streaming corpus stages: read a query in bounded batches, write a
table through a staging copy, and swap it in (or replace one partition) in one transaction, so a
crash never leaves a half-written table and readers see the old table or the new one.

Functions take an open DuckDB connection (the assets pass the `duckdb` resource's connection;
scripts and tests call `connect()`), so this module stays free of Dagster.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa

from alslm_ml.paths import warehouse_path
from alslm_ml.warehouse import SCHEMA, table_exists, transaction

BATCH_ROWS = 1000
RAW_TYPES = {"id": "VARCHAR", "source": "VARCHAR", "url": "VARCHAR", "title": "VARCHAR", "text": "VARCHAR",
             "date_accessed": "VARCHAR", "license": "VARCHAR", "metadata": "VARCHAR"}
CLEAN_TYPES = {**RAW_TYPES, "n_tokens": "BIGINT"}
SPLIT_TYPES = {**CLEAN_TYPES, "split": "VARCHAR"}
DUPLICATE_TYPES = {"kind": "VARCHAR", "removed_id": "VARCHAR", "kept_id": "VARCHAR", "similarity": "DOUBLE", "paragraph": "VARCHAR"}


def connect(path: str | None = None, memory_limit: str | None = "1GB") -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse (default `alslm_ml.paths.warehouse_path()`). DuckDB's own
    buffers count in the process's memory, so they are capped; sorts beyond it spill to disk."""
    con = duckdb.connect(str(path or warehouse_path()))
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def table(name: str) -> str:
    return f"{SCHEMA}.{name}"


def exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return table_exists(con, table(name))


def require(con: duckdb.DuckDBPyConnection, name: str, hint: str) -> None:
    if not exists(con, name):
        raise ValueError(f"table {table(name)} does not exist: {hint}")


def batches(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None,
            batch_rows: int = BATCH_ROWS) -> Iterator[list[dict]]:
    """Rows of `sql` as lists of dicts, `batch_rows` at a time (DuckDB streams the result).
    A cursor of its own, so the caller can write on `con` while iterating."""
    cur = con.cursor()
    reader = cur.execute(sql, params or []).to_arrow_reader(batch_rows)
    try:
        for rb in reader:
            if rb.num_rows:
                yield rb.to_pylist()
    finally:
        cur.close()


def create_staging(con: duckdb.DuckDBPyConnection, name: str, types: dict[str, str]) -> str:
    """An empty staging table `alslm._staging_<name>` with these columns (replacing a leftover)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    staging = table(f"_staging_{name}")
    cols = ", ".join(f'"{c}" {t}' for c, t in types.items())
    con.execute(f"CREATE OR REPLACE TABLE {staging} ({cols})")
    return staging


def append(con: duckdb.DuckDBPyConnection, staging: str, rows: list[dict], types: dict[str, str]) -> None:
    """Append rows (dicts with at least the `types` columns) to a staging table."""
    if not rows:
        return
    batch = pa.Table.from_pydict({c: [r[c] for r in rows] for c in types})  # noqa: F841 (read by DuckDB)
    con.execute(f"INSERT INTO {staging} SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in types)} FROM batch")


def swap_in(con: duckdb.DuckDBPyConnection, staged: dict[str, str]) -> None:
    """Replace each target table (name -> its staging table) in ONE transaction."""
    with transaction(con):
        for name, staging in staged.items():
            con.execute(f"DROP TABLE IF EXISTS {table(name)}")
            con.execute(f"ALTER TABLE {staging} RENAME TO {name}")


def replace_partition(con: duckdb.DuckDBPyConnection, name: str, staging: str, column: str, value: str) -> None:
    """Replace the rows of `name` where `column` = value by the staging table's rows, in one
    transaction (the table is created on first use); other partitions are untouched."""
    with transaction(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {table(name)} AS SELECT * FROM {staging} LIMIT 0")
        con.execute(f'DELETE FROM {table(name)} WHERE "{column}" = ?', [value])
        con.execute(f"INSERT INTO {table(name)} BY NAME SELECT * FROM {staging}")
        con.execute(f"DROP TABLE {staging}")


def read_frame(con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[str] | None = None):
    """A whole (small) table as a pandas DataFrame, for consumers that need every row at once
    (entity registry, instruction data); the corpus stages themselves never do this."""
    require(con, name, f"materialize `{name}` first")
    cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    return con.execute(f"SELECT {cols} FROM {table(name)} ORDER BY id").df()
