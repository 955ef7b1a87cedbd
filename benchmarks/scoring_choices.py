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
from dataclasses import replace
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

BEFORE = ScoringOptions(
    severity_below_threshold=False, peer_scale_floor=0.0, compare_with_council_type=False
)
VARIANTS: dict[str, ScoringOptions] = {
    "before issue 12 (flags only, MAD scale, neighbours only)": BEFORE,
    "+ severity below the flag line": replace(BEFORE, severity_below_threshold=True),
    "+ scale floor (0.5 x SD)": replace(
        BEFORE, severity_below_threshold=True, peer_scale_floor=0.5
    ),
    "+ judged against council type too (catalogue weights)": ScoringOptions(),
    "+ weights fitted point in time (3-year outcomes)": ScoringOptions(weights="fitted"),
    "+ weights fitted point in time (1-year outcomes, 2 failed councils)": ScoringOptions(
        weights="fitted", fit_horizon_days=365, fit_min_failures=2
    ),
}


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
    connection, quarters: pl.DataFrame, catalogue, scoring: ScoringOptions, events: pl.DataFrame
):
    variant = replace(catalogue, scoring=scoring)
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
    return watchlist, indicators


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
        f"({args.resamples} resamples of councils); lift at 20.",
        "",
        "| scoring | all quarters: AUC | lift@20 | target window: AUC | lift@20 "
        "| best single indicator (AUC) | margin | baseline AUC |",
        "|---|---|---:|---|---:|---|---:|---:|",
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
            for name, scoring in VARIANTS.items():
                started = time.perf_counter()
                watchlist, indicators = run_variant(
                    connection, quarters, catalogue, scoring, events
                )
                result = evaluate(watchlist, events, 1096, until, indicators, options)
                overall = result.overall
                main_row = overall.filter(pl.col("ranking") == MAIN).row(0, named=True)
                base = overall.filter(pl.col("ranking") == BASELINE).row(0, named=True)
                targets = result.targets
                t_main = targets.main if targets else {}
                best = targets.best_indicator if targets else {}
                margin = targets.checks[2]["reached"] if targets else None
                lines.append(
                    f"| {name} | {_ci(main_row)} | {_f(main_row.get('lift_at_20'), 1)} "
                    f"| {_ci(t_main)} | {_f(t_main.get('lift_at_20'), 1)} "
                    f"| {str(best.get('ranking', '-')).removeprefix(INDICATOR_PREFIX)} "
                    f"({_f(best.get('roc_auc'))}) | {_f(margin)} | {_f(base.get('roc_auc'))} |"
                )
                print(f"{name}: {time.perf_counter() - started:.1f}s", flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def _f(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(row: dict) -> str:
    return f"{_f(row.get('roc_auc'))} [{_f(row.get('roc_auc_low'))}, {_f(row.get('roc_auc_high'))}]"


if __name__ == "__main__":
    raise SystemExit(main())
