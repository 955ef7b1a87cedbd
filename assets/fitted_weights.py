"""Weights fitted point in time: at each as-of date D, an L2-penalised logistic regression of
"a failure event followed within the horizon" on the indicators' severities, with the weights
held non-negative (a worse value can only raise the score) so contributions stay additive and
each flag still explains itself: contribution = fitted weight x severity.

No look-ahead: the model for D is trained only on council-quarters whose whole horizon ended by
D (as-of date + horizon <= D), labelled only by events dated on or before D. Councils already
in trouble (an event in the years before a quarter) are left out of that quarter's training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy.optimize import minimize

from pipelines.indicator_catalogue import ScoringOptions


@dataclass(frozen=True)
class FittedWeights:
    as_of_date: date
    weights: dict[str, float]  # indicator_id -> weight, in catalogue-weight units
    intercept: float
    training_rows: int
    training_failed_councils: int
    fitted: bool  # False: too few failures observed, the catalogue weights stand


def training_set(
    scores: pl.DataFrame,
    events: pl.DataFrame,
    as_of: date,
    horizon_days: int,
    known_case_years: int,
) -> pl.DataFrame:
    """Council-quarters fully observed by `as_of`: quarter, council_code, failed, and one
    severity column per indicator (0 where not scored)."""
    known_events = events.filter(pl.col("event_date") <= as_of)
    rows = scores.filter(
        (pl.col("as_of_date") + pl.duration(days=horizon_days)) <= pl.lit(as_of)
    ).filter(pl.col("method") != "context")
    if rows.is_empty():
        return pl.DataFrame()
    features = rows.pivot(
        on="indicator_id",
        index=["quarter", "as_of_date", "council_code"],
        values="severity",
        aggregate_function="first",
    ).fill_null(0.0)
    pairs = features.select("quarter", "as_of_date", "council_code").join(
        known_events, on="council_code", how="inner"
    )
    after = pl.col("event_date") > pl.col("as_of_date")
    within = pl.col("event_date") <= pl.col("as_of_date") + pl.duration(days=horizon_days)
    recent = pl.col("event_date") > pl.col("as_of_date") - pl.duration(
        days=int(365.25 * known_case_years)
    )
    failed = pairs.filter(after & within).select("quarter", "council_code").unique()
    known = pairs.filter(~after & recent).select("quarter", "council_code").unique()
    return (
        features.join(known, on=["quarter", "council_code"], how="anti")
        .join(
            failed.with_columns(pl.lit(True).alias("failed")),
            on=["quarter", "council_code"],
            how="left",
        )
        .with_columns(pl.col("failed").fill_null(False))
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
    """Minimise the summed log-loss + penalty/2 x |w|^2 with w >= 0 (intercept free), by
    L-BFGS-B. Returns (w, intercept)."""
    p = x.shape[1]
    y = y.astype(float)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:p], theta[p]
        z = x @ w + b
        # log(1 + e^z) - y z, computed stably
        value = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * penalty * w @ w
        residual = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.concatenate([x.T @ residual + penalty * w, [residual.sum()]])
        return float(value), grad

    rate = min(max(y.mean(), 1e-6), 1 - 1e-6)
    start = np.concatenate([np.zeros(p), [np.log(rate / (1 - rate))]])
    bounds = [(0.0, None)] * p + [(None, None)]
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return result.x[:p], float(result.x[p])


def fit_weights(
    scores: pl.DataFrame,
    events: pl.DataFrame,
    as_of: date,
    catalogue_weights: dict[str, float],
    options: ScoringOptions,
) -> FittedWeights:
    """The weights for as-of date `as_of`. Fitted log-odds weights are rescaled so they sum to
    the catalogue weights of the same indicators (the ranking is unchanged and scores stay on
    the scale the bands were set for), then floored at a share of each catalogue weight."""
    train = training_set(
        scores, events, as_of, options.fit_horizon_days, options.fit_known_case_years
    )
    columns = [c for c in catalogue_weights if c in train.columns]
    failed_councils = (
        train.filter(pl.col("failed")).get_column("council_code").n_unique() if train.height else 0
    )
    if not columns or failed_councils < options.fit_min_failures:
        return FittedWeights(
            as_of, dict(catalogue_weights), 0.0, train.height, failed_councils, False
        )
    x = train.select(columns).to_numpy().astype(float)
    y = train.get_column("failed").to_numpy()
    coefficients, intercept = fit_logistic(x, y, options.fit_l2_penalty)
    total = float(coefficients.sum())
    scale = sum(catalogue_weights[c] for c in columns) / total if total > 0 else 0.0
    weights = {c: 0.0 for c in catalogue_weights}
    weights.update({c: float(w) * scale for c, w in zip(columns, coefficients, strict=True)})
    # A floor at a share of the catalogue weight: every flag still raises the score (a flag
    # that counted for nothing would explain nothing), and a fit on a handful of failures
    # cannot silence an indicator the catalogue judged relevant.
    weights = {
        c: max(w, options.fit_min_weight_share * catalogue_weights[c]) for c, w in weights.items()
    }
    return FittedWeights(as_of, weights, intercept, train.height, failed_councils, True)


def weights_by_quarter(
    scores: pl.DataFrame,
    events: pl.DataFrame,
    quarters: pl.DataFrame,
    catalogue_weights: dict[str, float],
    options: ScoringOptions,
) -> tuple[pl.DataFrame, list[FittedWeights]]:
    """One weight per quarter of the run and indicator, and the fits behind them."""
    fits = [
        fit_weights(scores, events, as_of, catalogue_weights, options)
        for as_of in quarters.get_column("as_of_date").to_list()
    ]
    rows = [
        {"quarter": q, "indicator_id": i, "fitted_weight": w}
        for q, fit in zip(quarters.get_column("quarter").to_list(), fits, strict=True)
        for i, w in fit.weights.items()
    ]
    frame = pl.DataFrame(
        rows, schema={"quarter": pl.String, "indicator_id": pl.String, "fitted_weight": pl.Float64}
    )
    return frame, fits
