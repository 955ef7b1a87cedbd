"""What every partitioned step shares: which quarters a run covers, the relations the SQL joins
(as-of dates, catalogue, bands, audit years), and replacing a table's rows for those quarters.

A run may cover one quarter or a range (a backfill runs as one step), so everything here
works on a set of quarters at once, in set-based SQL.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import polars as pl

from pipelines.indicator_catalogue import IndicatorCatalogue
from pipelines.partitions import as_of_date, quarter_label
from pipelines.sql import load_sql, with_identifiers


def quarters_of(context: dg.AssetExecutionContext) -> pl.DataFrame:
    """The run's quarters: label (2018Q1), partition key (2018-01-01) and as-of date."""
    keys = list(context.partition_keys)
    return pl.DataFrame(
        {
            "quarter": [quarter_label(k) for k in keys],
            "partition_key": keys,
            "as_of_date": [as_of_date(k) for k in keys],
        },
        schema={"quarter": pl.String, "partition_key": pl.String, "as_of_date": pl.Date},
    )


def register_context(
    connection: duckdb.DuckDBPyConnection, quarters: pl.DataFrame, catalogue: IndicatorCatalogue
) -> None:
    connection.execute(load_sql("indicators/create_schema"))
    connection.register("as_of_dates", quarters.to_arrow())
    connection.register("indicator_catalogue", catalogue.indicators.to_arrow())
    connection.register("risk_bands", catalogue.bands.to_arrow())
    connection.register("audit_years", catalogue.audit_years.to_arrow())


def replace_quarters(connection: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    """Replace the run's quarters in `table` with `rows`, in one transaction: a failed run
    leaves the previous rows in place."""
    connection.register("replacement_rows", rows.to_arrow())
    try:
        _replace_from_replacement_rows(connection, table)
    finally:
        connection.unregister("replacement_rows")


def replace_quarters_with_query(
    connection: duckdb.DuckDBPyConnection, table: str, query_name: str
) -> None:
    """replace_quarters with the rows of the query `sql/<query_name>.sql`, which stay inside
    DuckDB (a big result is not copied into Python and back). They are left in the temporary
    table `replacement_rows` for the caller to summarise."""
    connection.execute(load_sql("indicators/create_replacement_rows") + load_sql(query_name))
    _replace_from_replacement_rows(connection, table)


def _replace_from_replacement_rows(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(with_identifiers("indicators/create_like", table=table))
        _add_new_columns(connection, table)
        connection.execute(with_identifiers("indicators/clear_quarters", table=table))
        connection.execute(with_identifiers("indicators/insert_rows", table=table))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _add_new_columns(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    """A table built before a column was added to its rows (such as `source_url` or
    `national_percentile`) gains it with its type, empty for the quarters already there, so a
    warehouse keeps working across versions."""
    schema, name = table.split(".")
    have = {
        row[0]
        for row in connection.execute(
            load_sql("raw/table_columns"), {"schema": schema, "table": name}
        ).fetchall()
    }
    incoming = connection.execute(load_sql("indicators/replacement_columns")).fetchall()
    for column, column_type in incoming:
        if column not in have:
            connection.execute(
                with_identifiers(
                    "raw/add_typed_column", table=table, column_with_type=f"{column} {column_type}"
                )
            )
