"""Step 3, validated -> indicators: each catalogue indicator computed in DuckDB SQL, point in
time: for every quarter, only rows public by its as-of date."""

import dagster as dg
import polars as pl

from assets.point_in_time import quarters_of, register_context, replace_quarters
from pipelines.indicator_catalogue import load_indicator_catalogue
from pipelines.partitions import quarterly_partitions
from pipelines.resources import Warehouse
from pipelines.sql import load_sql, query_frame

VALIDATED = [
    dg.AssetKey(["validated", name])
    for name in (
        "revenue_outturn",
        "council_tax_receipts",
        "data_explorer_metrics",
        "audit_findings",
        "peer_challenges",
        "best_value_notices",
    )
]
# Service outcomes (sql/indicators/waste.sql, road_condition.sql, adult_skills.sql,
# children_services.sql).
SERVICE_OUTCOME_SOURCES = (
    "waste_indicators",
    "road_condition_a_roads",
    "road_condition_b_c_roads",
    "adult_skills",
    "ofsted_ilacs",
    "ofsted_children_services_mi",
)
VALIDATED += [
    dg.AssetKey(["validated", name])
    for name in (
        *SERVICE_OUTCOME_SOURCES,
        "la_finance_metrics",
        "core_spending_power",
        "borrowing_live_table",
        "investments_live_table",
        "prudential_indicators",
    )
]


@dg.asset(
    key=["indicators", "peer_groups"],
    deps=[
        dg.AssetKey(["validated", "nearest_neighbours"]),
        dg.AssetKey(["validated", "council_register"]),
    ],
    group_name="indicators",
    kinds={"duckdb"},
    pool="warehouse",
    description="Nearest-neighbour peer groups mapped onto the register: councils created "
    "after the published list inherit their predecessors' neighbours; abolished neighbours "
    "are resolved to successors at each as-of date during scoring.",
)
def peer_groups(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        connection.execute(load_sql("indicators/create_schema"))
        connection.execute(load_sql("indicators/council_successors"))
        connection.execute(load_sql("indicators/peer_groups"))
        summary = query_frame(connection, load_sql("indicators/peer_group_summary"))
    row = summary.row(0, named=True)
    context.log.info(f"peer groups: {row}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(row["links"]),
            "councils_with_published_neighbours": int(row["published"]),
            "councils_with_inherited_neighbours": int(row["inherited"]),
            "table": "indicators.peer_groups",
        }
    )


@dg.asset(
    key=["indicators", "indicator_values"],
    deps=VALIDATED,
    partitions_def=quarterly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="indicators",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    description="Every catalogue indicator's value per council at each quarter's as-of date, "
    "from rows public by then (sql/indicators/*.sql named by sql/indicators/catalogue.yaml).",
)
def indicator_values(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    quarters = quarters_of(context)
    catalogue = load_indicator_catalogue()
    frames: list[pl.DataFrame] = []
    with warehouse.connect() as connection:
        register_context(connection, quarters, catalogue)
        # The council-year finance series the reserves and debt indicators read.
        connection.execute(load_sql("indicators/finance_years"))
        connection.execute(load_sql("indicators/finance_public"))
        # The tails the yearly and finance indicator queries share, as table macros.
        connection.execute(load_sql("indicators/latest_public_year"))
        connection.execute(load_sql("indicators/finance_indicator_rows"))
        for sql_file in catalogue.sql_files:
            context.log.info(f"computing {sql_file} for {quarters.height} quarter(s)")
            frames.append(query_frame(connection, load_sql(sql_file.removesuffix(".sql"))))
        known = set(catalogue.indicators.get_column("indicator_id").to_list())
        # Diagonal: a query that cites each row (`source_url`) adds that column; the others
        # leave it empty.
        values = pl.concat(frames, how="diagonal_relaxed").filter(
            pl.col("indicator_id").is_in(list(known))
        )
        if "source_url" not in values.columns:
            values = values.with_columns(pl.lit(None, dtype=pl.String).alias("source_url"))
        replace_quarters(connection, "indicators.indicator_values", values)
    counts = values.group_by("indicator_id").agg(pl.len().alias("rows")).sort("indicator_id")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": values.height,
            "quarters": ", ".join(quarters.get_column("quarter").to_list()),
            "rows_by_indicator": dg.MetadataValue.md(
                "\n".join(
                    ["| indicator | rows |", "|---|---:|"]
                    + [f"| {r['indicator_id']} | {r['rows']} |" for r in counts.to_dicts()]
                )
            ),
            "catalogue_sha256": catalogue.sha256,
        }
    )
