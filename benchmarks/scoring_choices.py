"""Backtest each scoring choice on an already built warehouse, so every setting in
`settings.scoring` is decided by figures, not taste.

    .venv/bin/python -m benchmarks.scoring_choices [--events my_events.csv] [--out FILE]

It copies the warehouse (the original is not touched), re-scores every built quarter under
each variant of the scoring settings, rebuilds the watchlists with the same SQL the pipeline
runs, and backtests them exactly as the backtest asset does (headline horizon, target window).
Writes a Markdown table (default benchmarks/SCORING_CHOICES.md).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from assets.backtest import (
    BASELINE,
    INDICATOR_PREFIX,
    MAIN,
    evaluate,
    read_events,
)
from assets.point_in_time import register_context, replace_quarters_with_query
from assets.scores import apply_fitted_weights
from pipelines.indicator_catalogue import ScoringOptions, load_indicator_catalogue
from pipelines.sql import load_sql, query_frame

# The change indicators (a level's movement over one to three years). Before issue 12 they
# weighed four times what the catalogue now gives them.
CHANGE_INDICATORS = (
    "unallocated_reserves_change_1y",
    "unallocated_reserves_change_2y",
    "earmarked_reserves_change_1y",
    "earmarked_reserves_change_2y",
    "usable_reserves_change_1y_pts_nre",
    "council_tax_receipts_growth",
    "borrowing_growth_1y_pts_nre",
    "borrowing_growth_3y_pts_nre",
)


@dataclass(frozen=True)
class Variant:
    scoring: ScoringOptions
    change_weight_factor: float = 1.0  # x the catalogue weight of every change indicator


PEERS_ONLY = ScoringOptions(severity_at_least_national_percentile=False)
BEFORE = replace(
    PEERS_ONLY,
    severity_below_threshold=False,
    peer_scale_floor=0.0,
    compare_with_council_type=False,
    below_line_reach=0.0,
)
AT_MEDIAN = replace(PEERS_ONLY, below_line_reach=0.0)  # below-line severity 0 at the median
OLD_CHANGES = 4.0  # the change indicators' weights before issue 12
VARIANTS: dict[str, Variant] = {
    "before issue 12 (flags only, MAD scale, neighbours only)": Variant(BEFORE, OLD_CHANGES),
    "+ severity below the flag line (0 at the peer median)": Variant(
        replace(BEFORE, severity_below_threshold=True), OLD_CHANGES
    ),
    "+ scale floor (0.5 x SD)": Variant(
        replace(BEFORE, severity_below_threshold=True, peer_scale_floor=0.5), OLD_CHANGES
    ),
    "+ judged against council type too (catalogue weights)": Variant(AT_MEDIAN, OLD_CHANGES),
    "+ weights fitted point in time (3-year outcomes): integrated before tuning": Variant(
        replace(AT_MEDIAN, weights="fitted"), OLD_CHANGES
    ),
    "catalogue weights, below-line reach 1 threshold past the median": Variant(
        PEERS_ONLY, OLD_CHANGES
    ),
    "catalogue weights, below-line reach 2 thresholds": Variant(
        replace(PEERS_ONLY, below_line_reach=2.0), OLD_CHANGES
    ),
    "reach 1, changes at half their old weight": Variant(PEERS_ONLY, 2.0),
    "reach 1, changes at a quarter": Variant(PEERS_ONLY),
    "reach 1, changes not counted (weight 0)": Variant(PEERS_ONLY, 0.0),
    "reach 0, changes at a quarter": Variant(AT_MEDIAN),
    "reach 1, changes at a quarter, weights fitted point in time": Variant(
        replace(PEERS_ONLY, weights="fitted")
    ),
    "+ severity at least its national percentile (catalogue weights)": Variant(ScoringOptions()),
    "+ national percentile, changes not counted (weight 0)": Variant(ScoringOptions(), 0.0),
    "shipped: + national percentile, weights fitted point in time": Variant(
        ScoringOptions(weights="fitted")
    ),
}
# The scoring whose severities the hindsight bound re-weights.
SHIPPED = "shipped: + national percentile, weights fitted point in time"
# Out-of-window checks: later as-of quarters (their 3-year outcomes are not all observed yet,
# so the 1- and 2-year horizons) and the built quarters before the target window.
LATER = ("2021Q1", "2023Q4")
EARLIER = ("2016Q1", "2016Q3")


def _quarters(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    built = query_frame(
        connection, "SELECT DISTINCT quarter, as_of_date FROM watchlist.watchlist ORDER BY 1"
    )
    return built.with_columns(
        (
            pl.col("quarter").str.slice(0, 4)
            + "-"
            + pl.col("quarter")
            .str.slice(5, 1)
            .cast(pl.Int32)
            .map_elements(lambda q: f"{3 * q - 2:02d}-01", return_dtype=pl.String)
        ).alias("partition_key")
    ).select("quarter", "partition_key", "as_of_date")


def run_variant(
    connection, quarters: pl.DataFrame, catalogue, choice: Variant, events: pl.DataFrame
):
    scoring = choice.scoring
    indicators = catalogue.indicators.with_columns(
        pl.when(pl.col("indicator_id").is_in(CHANGE_INDICATORS))
        .then(pl.col("weight") * choice.change_weight_factor)
        .otherwise(pl.col("weight"))
        .alias("weight")
    )
    variant = replace(catalogue, scoring=scoring, indicators=indicators)
    register_context(connection, quarters, variant)
    connection.register("scoring_settings", scoring.frame().to_arrow())
    replace_quarters_with_query(connection, "scores.indicator_scores", "scoring/indicator_scores")
    if scoring.weights == "fitted":
        apply_fitted_weights(connection, quarters, variant, events)
    params = {
        "min_coverage": variant.min_coverage,
        "known_case_years": variant.known_case_years,
        "top_reasons": variant.top_reasons,
    }
    watchlist = query_frame(connection, load_sql("watchlist/watchlist"), params)
    indicators = query_frame(connection, load_sql("backtest/indicator_rankings"))
    severities = query_frame(connection, load_sql("scoring/training_rows"))
    return watchlist, indicators, severities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", default="data/warehouse/early_warning.duckdb")
    parser.add_argument("--events", help="events CSV (default: the shipped registers)")
    parser.add_argument("--complete-until", help="events known up to (default: latest event)")
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/SCORING_CHOICES.md")
    args = parser.parse_args(argv)
    catalogue = load_indicator_catalogue()
    options = replace(catalogue.backtest, resamples=args.resamples)
    until = date.fromisoformat(args.complete_until) if args.complete_until else None
    lines = [
        "# Scoring choices, backtested",
        "",
        f"`python -m benchmarks.scoring_choices{' --events ' + args.events if args.events else ''}`"
        f" on {date.today().isoformat()}. Events: {args.events or 'shipped registers'}. "
        f"Headline horizon 1096 days; target window {options.target_quarters[0]} to "
        f"{options.target_quarters[1]}; ROC AUC with its 95% bootstrap interval "
        f"({args.resamples} resamples of councils); lift at 20. Out of the window: mean "
        f"ROC AUC of the main score over the quarters with a failure, as-of {LATER[0]}-"
        f"{LATER[1]} (1- and 2-year horizons: the 3-year outcomes are not yet observed) and "
        f"{EARLIER[0]}-{EARLIER[1]} (3-year horizon); in brackets the best single indicator "
        "there.",
        "",
        "| scoring | all quarters: AUC | lift@20 | target window: AUC | lift@20 "
        "| best single indicator (AUC) | margin | baseline AUC | target 1y / 2y AUC "
        "| later 1y AUC | later 2y AUC | earlier 3y AUC |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "warehouse.duckdb"
        shutil.copy(args.warehouse, copy)
        with duckdb.connect(str(copy)) as connection:
            events = (
                read_events(Path(args.events))
                if args.events
                else query_frame(connection, load_sql("backtest/known_case_events"))
            )
            quarters = _quarters(connection)
            for name, choice in VARIANTS.items():
                started = time.perf_counter()
                watchlist, indicators, severities = run_variant(
                    connection, quarters, catalogue, choice, events
                )
                result = evaluate(
                    watchlist,
                    events,
                    1096,
                    until,
                    indicators,
                    options,
                    severities if name == SHIPPED else None,
                    catalogue.scoring.fit_l2_penalty,
                )
                overall = result.overall
                main_row = overall.filter(pl.col("ranking") == MAIN).row(0, named=True)
                base = overall.filter(pl.col("ranking") == BASELINE).row(0, named=True)
                targets = result.targets
                t_main = targets.main if targets else {}
                best = targets.best_indicator if targets else {}
                margin = targets.checks[2]["reached"] if targets else None
                quarterly = result.per_quarter_all
                lines.append(
                    f"| {name} | {_ci(main_row)} | {_f(main_row.get('lift_at_20'), 1)} "
                    f"| {_ci(t_main)} | {_f(t_main.get('lift_at_20'), 1)} "
                    f"| {str(best.get('ranking', '-')).removeprefix(INDICATOR_PREFIX)} "
                    f"({_f(best.get('roc_auc'))}) | {_f(margin)} | {_f(base.get('roc_auc'))} "
                    f"| {_window(quarterly, options.target_quarters, 365, False)} / "
                    f"{_window(quarterly, options.target_quarters, 730, False)} "
                    f"| {_window(quarterly, LATER, 365)} | {_window(quarterly, LATER, 730)} "
                    f"| {_window(quarterly, EARLIER, 1096)} |"
                )
                print(f"{name}: {time.perf_counter() - started:.1f}s", flush=True)
                if name == SHIPPED and targets is not None:
                    bound = targets.hindsight_ceiling
                    n_features = severities.get_column("indicator_id").n_unique()
                    best_single = best.get("roc_auc")
            lines += [
                "",
                f"Hindsight ceiling: the shipped scoring's {n_features} severities re-weighted by "
                "a non-negative L2 logistic regression fitted on the target window's own 3-year "
                f"outcomes (it sees the future, so it is a ceiling, not a method) rank later "
                f"failures at a mean ROC AUC of {bound:.3f} over the target window, "
                f"{bound - best_single:+.3f} against the best single indicator "
                f"({best_single:.3f}).",
            ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def _window(
    per_quarter: pl.DataFrame, quarters: tuple[str, str], days: int, with_best: bool = True
) -> str:
    """Mean ROC AUC over the window's quarters with a failure: the main score, and (in
    brackets) the best single indicator over the same quarters."""
    rows = per_quarter.filter(
        (pl.col("horizon_days") == days)
        & pl.col("quarter").is_between(pl.lit(quarters[0]), pl.lit(quarters[1]))
        & (pl.col("failures") > 0)
        & pl.col("roc_auc").is_not_null()
    )
    means = rows.group_by("ranking").agg(pl.col("roc_auc").mean(), pl.len().alias("quarters"))
    main = means.filter(pl.col("ranking") == MAIN)
    if main.is_empty():
        return "-"
    text = f"{main.item(0, 'roc_auc'):.3f} ({main.item(0, 'quarters')} q)"
    singles = means.filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX))
    if with_best and not singles.is_empty():
        top = singles.sort("roc_auc", descending=True).row(0, named=True)
        text += f" [{top['ranking'].removeprefix(INDICATOR_PREFIX)} {top['roc_auc']:.3f}]"
    return text


def _f(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(row: dict) -> str:
    return f"{_f(row.get('roc_auc'))} [{_f(row.get('roc_auc_low'))}, {_f(row.get('roc_auc_high'))}]"


if __name__ == "__main__":
    raise SystemExit(main())
