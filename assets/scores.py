"""Step 4, indicators -> scores: each value placed against its peers (robust z-score and
percentile, the council left out of its own peer group) or its threshold, flagged, and given
a contribution to the composite score. Missing evidence is a state, never a number."""

import dagster as dg

from assets.point_in_time import quarters_of, register_context, replace_quarters_with_query
from pipelines.indicator_catalogue import load_indicator_catalogue
from pipelines.partitions import quarterly_partitions
from pipelines.resources import Warehouse
from pipelines.sql import load_sql, query_frame


@dg.asset(
    key=["scores", "indicator_scores"],
    deps=[
        dg.AssetKey(["indicators", "indicator_values"]),
        dg.AssetKey(["indicators", "peer_groups"]),
    ],
    partitions_def=quarterly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="scores",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    description="Every applicable indicator of every council at each as-of date: its state, "
    "peer median, robust z-score, percentile, threshold, flag and contribution "
    "(sql/scoring/indicator_scores.sql).",
)
def indicator_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    quarters = quarters_of(context)
    catalogue = load_indicator_catalogue()
    with warehouse.connect() as connection:
        register_context(connection, quarters, catalogue)
        # Computed and stored inside DuckDB: at scale the evaluations are millions of rows.
        replace_quarters_with_query(
            connection, "scores.indicator_scores", "scoring/indicator_scores"
        )
        states = query_frame(connection, load_sql("scoring/state_counts"))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(states.get_column("rows").sum()),
            "flags_raised": int(states.get_column("flags").sum()),
            "evaluations_by_state": dg.MetadataValue.md(
                "\n".join(
                    ["| state | rows |", "|---|---:|"]
                    + [f"| {r['state']} | {r['rows']} |" for r in states.to_dicts()]
                )
            ),
        }
    )
