"""Replace rows of a DuckDB table atomically.

"Delete this system's (or partition's) rows, then insert the new ones" must be one transaction:
run as two statements, a failing insert leaves the table without those rows at all. Generic so
every stage (evaluation tables, the IO manager, corpus stages) can share it.

    with duckdb.connect(path) as con:
        replace_rows(con, "alslm.eval_scores", frame, "system = ?", ["rag"])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd

SCHEMA = "alslm"  # every table the project writes lives in this DuckDB schema


@contextmanager
def transaction(con) -> Iterator:
    """BEGIN ... COMMIT; ROLLBACK (and re-raise) on any error, so the table keeps its old rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def table_exists(con, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    params = [name]
    if schema:
        sql += " AND table_schema = ?"
        params.append(schema)
    return con.execute(sql, params).fetchone()[0] > 0


def delete_insert(con, table: str, frame: pd.DataFrame, where: str = "", params: Sequence = ()) -> int:
    """Inside the caller's transaction: delete rows matching `where` (all rows when empty), create
    the table from `frame`'s columns when missing (or add the columns an older table lacks), insert
    `frame` by column name. Returns rows inserted."""
    exists = table_exists(con, table)
    if exists:
        con.execute(f"DELETE FROM {table}" + (f" WHERE {where}" if where else ""), list(params))
    if frame.empty:  # nothing to add (and no rows to infer column types from)
        return 0
    view = "_alslm_replace_frame"
    con.register(view, frame)
    try:
        if exists:  # columns a newer version added (e.g. answer_tokens) join an older table
            have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            for name, typ, *_ in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall():
                if name not in have:
                    con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {typ}')
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {view} WHERE false")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
    finally:
        con.unregister(view)
    return len(frame)


def replace_rows(con, table: str, frame: pd.DataFrame, where: str = "", params: Sequence = ()) -> int:
    """delete_insert in its own transaction: either the new rows are in, or the old ones still are."""
    with transaction(con):
        return delete_insert(con, table, frame, where, params)
