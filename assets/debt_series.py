"""The council-year debt series: live-table borrowing at 31 March beside the capital outturn
prudential indicators, one row per council and financial year (£000), for analysts and for the
union with later finance series. Built from validated tables only, in SQL."""

import dagster as dg

from pipelines.resources import Warehouse
from pipelines.sql import load_sql, query_frame


@dg.asset(
    key=["validated", "council_debt_series"],
    deps=[
        dg.AssetKey(["validated", "borrowing_live_table"]),
        dg.AssetKey(["validated", "investments_live_table"]),
        dg.AssetKey(["validated", "prudential_indicators"]),
    ],
    group_name="validated",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    description="One row per council and financial year, £000: gross, short-term and "
    "other-council borrowing and investments at 31 March (live table) beside CFR, gross debt, "
    "MRP and other long-term liabilities (capital outturn, outturn only), each half with its "
    "own publication date and source row (sql/staging/council_debt_series.sql).",
)
def council_debt_series(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        connection.execute(load_sql("staging/council_debt_series"))
        counts = query_frame(connection, load_sql("staging/council_debt_series_summary")).row(
            0, named=True
        )
    context.log.info(f"council_debt_series: {counts}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(counts["n_rows"]),
            "councils": int(counts["councils"]),
            "periods": f"{counts['first_period']} to {counts['last_period']}",
            "table": "validated.council_debt_series",
        }
    )
