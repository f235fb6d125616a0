"""Shared resources. Table assets go through the DuckDB pandas IO manager (partitioned tables are
replaced one partition at a time); file assets write under the data directory and return
MaterializeResult. The `benchmark` asset's output (alslm_ml.benchmark.Benchmarks) goes
through BenchmarkIOManager: written to and read from data/eval/benchmark.json (+ the blind one),
so the assets that answer or avoid the benchmark take it as an input.

The stock DuckDB IO manager deletes a table's (partition's) rows and inserts the new ones as
separate statements: an insert that fails leaves the partition empty. AtomicDuckDBPandasIOManager
runs each output's delete + insert in one transaction, so a failed write keeps the old rows."""

from contextlib import contextmanager

import dagster as dg
from dagster._core.storage.db_io_manager import DbIOManager
from dagster_duckdb import DuckDBResource
from dagster_duckdb.io_manager import DuckDbClient, _get_cleanup_statement
from dagster_duckdb_pandas import DuckDBPandasIOManager

from alslm_ml.benchmark import Benchmarks, read_benchmarks, write_benchmarks
from alslm_ml.paths import warehouse_path
from alslm_ml.warehouse import SCHEMA, table_exists, transaction


class AtomicDuckDbClient(DuckDbClient):
    """DuckDbClient whose writes are one transaction per output (schema, delete, create, insert)."""

    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        # The stock client swallows the error of deleting from a missing table; inside a
        # transaction that error would abort it, so look first.
        if table_exists(connection, f"{table_slice.schema}.{table_slice.table}"):
            connection.execute(_get_cleanup_statement(table_slice))

    @staticmethod
    @contextmanager
    def connect(context, table_slice):
        with DuckDbClient.connect(context, table_slice) as conn:
            try:
                if isinstance(context, dg.OutputContext):
                    with transaction(conn):
                        yield conn
                else:
                    yield conn
            except BaseException:
                conn.close()  # the stock client leaves it open on an error, locking the file
                raise


class AtomicDuckDBPandasIOManager(DuckDBPandasIOManager):
    """DuckDBPandasIOManager with all-or-nothing table / partition replacement."""

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=AtomicDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="DuckDBIOManager",
        )


class BenchmarkIOManager(dg.ConfigurableIOManager):
    """Stores the `benchmark` asset's Benchmarks as the validated JSON files under data/eval/."""

    def handle_output(self, context: dg.OutputContext, obj: Benchmarks) -> None:
        write_benchmarks(obj)

    def load_input(self, context: dg.InputContext) -> Benchmarks:
        return read_benchmarks()


def shared_resources() -> dict:
    db = str(warehouse_path())
    return {
        "io_manager": AtomicDuckDBPandasIOManager(database=db, schema=SCHEMA),
        "duckdb": DuckDBResource(database=db),
        "benchmark_io": BenchmarkIOManager(),
    }
