"""Step 4, indicators -> scores: each value placed against its peers (robust z-score and
percentile, the council left out of its own peer group; against all councils of its type too)
or its threshold, flagged, and given a continuous severity and a contribution to the composite
score. Missing evidence is a state, never a number. Weights come from the catalogue, or are
fitted point in time (settings.scoring.weights: fitted; assets/fitted_weights.py)."""

import dagster as dg
import polars as pl

from assets.fitted_weights import weights_by_quarter
from assets.point_in_time import quarters_of, register_context, replace_quarters_with_query
from pipelines.indicator_catalogue import IndicatorCatalogue, load_indicator_catalogue
from pipelines.partitions import quarterly_partitions
from pipelines.resources import Warehouse
from pipelines.sql import load_sql, query_frame


def apply_fitted_weights(
    connection,
    quarters: pl.DataFrame,
    catalogue: IndicatorCatalogue,
    events: pl.DataFrame | None = None,
) -> dict:
    """Replace the run's catalogue weights by weights fitted at each as-of date from the
    scores and events before it (default events: the shipped registers,
    sql/backtest/known_case_events.sql); returns metadata describing the fits."""
    scored = catalogue.indicators.filter(pl.col("method") != "context")
    catalogue_weights = dict(
        zip(scored.get_column("indicator_id"), scored.get_column("weight"), strict=True)
    )
    history = query_frame(connection, load_sql("scoring/training_rows"))
    if events is None:
        events = query_frame(connection, load_sql("backtest/known_case_events"))
    weights, fits = weights_by_quarter(
        history, events, quarters, catalogue_weights, catalogue.scoring
    )
    connection.register("fitted_weights", weights.to_arrow())
    try:
        connection.execute(load_sql("scoring/apply_fitted_weights"))
    finally:
        connection.unregister("fitted_weights")
    latest = fits[-1]
    lines = ["| indicator | catalogue weight | fitted weight |", "|---|---:|---:|"]
    lines += [
        f"| {i} | {catalogue_weights[i]:g} | {w:.3f} |"
        for i, w in sorted(latest.weights.items(), key=lambda item: -item[1])
    ]
    return {
        "weights": "fitted",
        "quarters_fitted": sum(f.fitted for f in fits),
        "quarters_with_catalogue_weights": sum(not f.fitted for f in fits),
        "latest_training_rows": latest.training_rows,
        "latest_training_failed_councils": latest.training_failed_councils,
        "latest_weights": dg.MetadataValue.md("\n".join(lines)),
    }


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
    "peer median, robust z-score, percentile, threshold, flag, severity and contribution "
    "(sql/scoring/indicator_scores.sql), with catalogue or point-in-time fitted weights.",
)
def indicator_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    quarters = quarters_of(context)
    catalogue = load_indicator_catalogue()
    with warehouse.connect() as connection:
        register_context(connection, quarters, catalogue)
        connection.register("scoring_settings", catalogue.scoring.frame().to_arrow())
        # Computed and stored inside DuckDB: at scale the evaluations are millions of rows.
        replace_quarters_with_query(
            connection, "scores.indicator_scores", "scoring/indicator_scores"
        )
        states = query_frame(connection, load_sql("scoring/state_counts"))
        fitted = (
            apply_fitted_weights(connection, quarters, catalogue)
            if catalogue.scoring.weights == "fitted"
            else {"weights": "catalogue"}
        )
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
            **fitted,
        }
    )
