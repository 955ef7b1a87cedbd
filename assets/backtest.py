"""Backtest: would past watchlists have pointed at councils that later failed?

For every quarter's point-in-time watchlist, councils not already known at its as-of date are
labelled by whether a failure event (section 114 notice, intervention, Best Value notice,
exceptional financial support...) followed within each horizon (1, 2 and 3 years by default).
The main score, the reserves-only baseline, every indicator alone and a random ranking are
compared by ROC AUC, precision, recall and lift at k, overall and by council type, with 95%
bootstrap intervals that resample councils (not council-quarters). A section states the
issue-12 targets, the same rankings within council types (no credit for telling the types
apart) and a hindsight ceiling (how far re-weighting the severities could go, had it seen the
outcomes); a table calibrates each risk band (the share of its councils that failed).

The events are read only here, after the watchlists are built: they cannot feed any score
(the fitted weights, where chosen, are fitted in the scores step from events before each
as-of date only; see assets/fitted_weights.py).
"""

import math
import os
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from assets.backtest_metrics import (
    KS,
    bootstrap_weights,
    random_metrics,
    ranking_metrics,
    weighted_roc_auc,
)
from assets.fitted_weights import fit_logistic
from pipelines.indicator_catalogue import BacktestOptions, load_indicator_catalogue
from pipelines.resources import ParquetOutputs, Warehouse
from pipelines.sql import load_sql, query_frame

MAIN, BASELINE, RANDOM = "main score", "reserves-only baseline", "random ranking (expected)"
RANKINGS = {"risk_score": MAIN, "baseline_score": BASELINE}
INDICATOR_PREFIX = "indicator: "
INTERVAL_METRICS = ("roc_auc", "precision_at_20", "lift_at_20")
ELEVATED_BANDS = ("elevated", "high")
BAND_ORDER = ("high", "elevated", "watch", "no flags", "insufficient data")


@dataclass(frozen=True)
class TargetCheck:
    """The issue-12 targets on the headline horizon, over the target quarters."""

    first_quarter: str
    last_quarter: str
    rows: pl.DataFrame
    main: dict = field(default_factory=dict)
    best_indicator: dict = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    # Mean ROC AUC of the severities re-weighted with the window's own outcomes in view.
    hindsight_ceiling: float | None = None
    # The same rankings with each council compared only with councils of its own type.
    within_type: pl.DataFrame = field(default_factory=pl.DataFrame)

    @classmethod
    def from_rows(cls, rows: pl.DataFrame, options: BacktestOptions, first: str, last: str):
        if rows.is_empty():
            return cls(first, last, rows)
        main = next(iter(rows.filter(pl.col("ranking") == MAIN).to_dicts()), {})
        singles = rows.filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX))
        best = singles.sort(pl.col("roc_auc").fill_null(-1.0), descending=True).head(1)
        best_row = next(iter(best.to_dicts()), {})
        auc, lift = main.get("roc_auc"), main.get("lift_at_20")
        margin = (
            auc - best_row["roc_auc"]
            if auc is not None and best_row.get("roc_auc") is not None
            else None
        )
        checks = [
            {
                "target": f"main score ROC AUC >= {options.target_roc_auc:.2f}",
                "reached": auc,
                "met": auc is not None and auc >= options.target_roc_auc,
            },
            {
                "target": f"main score lift at 20 >= {options.target_lift_at_20:g}",
                "reached": lift,
                "met": lift is not None and lift >= options.target_lift_at_20,
            },
            {
                "target": "main score ROC AUC above the best single indicator "
                f"by >= {options.target_auc_margin:.2f}",
                "reached": margin,
                "met": margin is not None and margin >= options.target_auc_margin,
            },
        ]
        return cls(first, last, rows, main, best_row, checks)


@dataclass(frozen=True)
class BacktestResult:
    per_quarter: pl.DataFrame  # headline horizon
    overall: pl.DataFrame  # headline horizon, mean over quarters with a failure
    lead_times: pl.DataFrame
    lift_curve: pl.DataFrame
    per_quarter_all: pl.DataFrame = field(default_factory=pl.DataFrame)  # every horizon
    overall_all: pl.DataFrame = field(default_factory=pl.DataFrame)
    by_type: pl.DataFrame = field(default_factory=pl.DataFrame)
    band_calibration: pl.DataFrame = field(default_factory=pl.DataFrame)
    targets: TargetCheck | None = None


def read_events(path: Path) -> pl.DataFrame:
    """An events file: CSV with council_code, event_date (YYYY-MM-DD) and event_type."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = {"council_code", "event_date", "event_type"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: events file lacks column(s) {sorted(missing)}")
    parsed = frame.select(
        pl.col("council_code").str.strip_chars(),
        pl.col("event_date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("event_type").str.strip_chars(),
    )
    bad = parsed.with_row_index("line", offset=2).filter(pl.col("event_date").is_null())
    if bad.height:
        raise ValueError(f"{path}: line(s) {bad.get_column('line').to_list()} have no valid date")
    return parsed


def label(watchlist: pl.DataFrame, events: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """Eligible (not already known) council-quarters, each with `failed`: an event followed
    within the horizon after the as-of date, and the first such event's date."""
    eligible = watchlist.filter(~pl.col("known_case"))
    following = (
        eligible.select("quarter", "council_code", "as_of_date")
        .join(events, on="council_code", how="inner")
        .filter(
            (pl.col("event_date") > pl.col("as_of_date"))
            & (pl.col("event_date") <= pl.col("as_of_date") + pl.duration(days=horizon_days))
        )
        .group_by("quarter", "council_code")
        .agg(pl.col("event_date").min().alias("event_date"))
    )
    return eligible.join(following, on=["quarter", "council_code"], how="left").with_columns(
        pl.col("event_date").is_not_null().alias("failed")
    )


def roc_auc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a failed council outranks one that did not (ties count half)."""
    auc = weighted_roc_auc(
        np.asarray(scores, float), np.asarray(labels, bool), np.ones(len(scores))
    )
    return None if np.isnan(auc[0]) else float(auc[0])


def hindsight_ceiling(
    severities: pl.DataFrame, labelled: pl.DataFrame, penalty: float
) -> float | None:
    """Mean ROC AUC, over the quarters of `labelled` with a failure, of the best non-negative
    weighting of the indicators' severities, fitted (L2 logistic regression, as the point-in-
    time fit) on those very quarters' outcomes. It sees the future, so it is not a method: it
    is a ceiling on what any choice of weights over these severities could reach, the figure
    that says whether a target for the main score is within reach of weighting at all.
    `severities`: quarter, council_code, indicator_id, severity (scored rows); `labelled`:
    quarter, council_code, failed."""
    if labelled.is_empty() or not labelled.get_column("failed").any() or severities.is_empty():
        return None
    features = severities.join(
        labelled.select("quarter", "council_code"), on=["quarter", "council_code"], how="semi"
    ).pivot(
        on="indicator_id",
        index=["quarter", "council_code"],
        values="severity",
        aggregate_function="first",
    )
    columns = [c for c in features.columns if c not in ("quarter", "council_code")]
    rows = (
        labelled.select("quarter", "council_code", "failed")
        .join(features, on=["quarter", "council_code"], how="left")
        .with_columns(pl.col(columns).cast(pl.Float64).fill_null(0.0))
        .sort("quarter", "council_code")
    )
    x = rows.select(columns).to_numpy()
    weights, _ = fit_logistic(x, rows.get_column("failed").to_numpy(), penalty)
    fitted = rows.select("quarter", "failed").with_columns(pl.Series("score", x @ weights))
    aucs = [
        roc_auc(part.get_column("score").to_list(), part.get_column("failed").to_list())
        for _, part in fitted.group_by("quarter")
        if part.get_column("failed").any()
    ]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else None


def indicator_rankings(indicator_scores: pl.DataFrame) -> pl.DataFrame:
    """Each indicator alone as a ranking, one column per indicator (`indicator: <id>`): its
    value oriented so that higher is worse, where it was scored; an event indicator with no
    finding recorded ranks as strength 0; anything else unscored sits at the median."""
    if indicator_scores.is_empty():
        return pl.DataFrame(schema={"quarter": pl.String, "council_code": pl.String})
    oriented = indicator_scores.select(
        "quarter",
        "council_code",
        (pl.lit(INDICATOR_PREFIX) + pl.col("indicator_id")).alias("ranking"),
        pl.when(pl.col("state") == "scored")
        .then(
            pl.when((pl.col("method") == "event") | (pl.col("polarity") == "higher_is_worse"))
            .then(pl.col("value"))
            .otherwise(-pl.col("value"))
        )
        .when(pl.col("state") == "no finding recorded")
        .then(0.0)
        .cast(pl.Float64)
        .alias("oriented"),
    )
    return oriented.pivot(
        on="ranking",
        index=["quarter", "council_code"],
        values="oriented",
        aggregate_function="first",
    )


def _ranking_columns(frame: pl.DataFrame) -> dict[str, str]:
    columns = {c: n for c, n in RANKINGS.items() if c in frame.columns}
    columns.update({c: c for c in frame.columns if c.startswith(INDICATOR_PREFIX)})
    return columns


METRICS = (
    "roc_auc",
    *[f"{m}_at_{k}" for m in ("precision", "recall", "lift") for k in KS],
)


def _metric_arrays(m) -> dict[str, np.ndarray]:
    arrays = {"councils": m.councils, "failures": m.failures, "roc_auc": m.roc_auc}
    for k in KS:
        arrays[f"precision_at_{k}"] = m.precision[k]
        arrays[f"recall_at_{k}"] = m.recall[k]
        arrays[f"lift_at_{k}"] = m.lift[k]
    return arrays


@dataclass
class _Stacks:
    """Per ranking, per metric: a (quarters x weight rows) array; row 0 of the weights is the
    plain figure, the others bootstrap resamples."""

    quarters: list[str]
    arrays: dict[str, dict[str, list[np.ndarray]]]


def _score_quarters(
    observed: pl.DataFrame, council_weights: np.ndarray, council_index: dict[str, int]
) -> tuple[list[dict], _Stacks]:
    rankings = _ranking_columns(observed)
    rows: list[dict] = []
    stacks = _Stacks(quarters=[], arrays={})
    if observed.is_empty() or not rankings:
        return rows, stacks
    ordered = observed.sort("quarter", "council_code")
    # One conversion to numpy for every ranking; each quarter is a slice of it.
    scores = ordered.select(pl.col(list(rankings)).cast(pl.Float64)).to_numpy()
    codes = np.asarray(ordered.get_column("council_code").to_list())
    columns = np.asarray([council_index[c] for c in codes])
    failed_all = ordered.get_column("failed").to_numpy()
    quarter_labels = ordered.get_column("quarter").to_numpy()
    starts = np.flatnonzero(np.r_[True, quarter_labels[1:] != quarter_labels[:-1]])
    ends = np.r_[starts[1:], len(quarter_labels)]
    names = list(rankings.values())
    for start, end in zip(starts, ends, strict=True):
        quarter = str(quarter_labels[start])
        weights = council_weights[:, columns[start:end]]
        failed = failed_all[start:end]
        tiebreak = np.arange(end - start)  # already sorted by council code
        stacks.quarters.append(quarter)
        results = {
            name: ranking_metrics(scores[start:end, j], failed, tiebreak, weights)
            for j, name in enumerate(names)
        }
        first = results[names[0]]
        results[RANDOM] = random_metrics(first.councils, first.failures)
        for name, metrics in results.items():
            arrays = _metric_arrays(metrics)
            per_ranking = stacks.arrays.setdefault(name, {})
            for key, values in arrays.items():
                per_ranking.setdefault(key, []).append(values)
            n, positives = float(arrays["councils"][0]), float(arrays["failures"][0])
            row = {
                "quarter": quarter,
                "ranking": name,
                "councils": int(n),
                "failures": int(positives),
                "base_rate": positives / n if n else 0.0,
            }
            row.update({key: _plain(arrays[key][0]) for key in METRICS})
            rows.append(row)
    return rows, stacks


def _plain(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _aggregate(stacks: _Stacks, keep: list[bool] | None = None) -> list[dict]:
    """Mean over the quarters with at least one failure (in each resample, the quarters where
    that resample holds one), with 95% bootstrap intervals."""
    select = np.array(keep if keep is not None else [True] * len(stacks.quarters), dtype=bool)
    out = []
    for name, arrays in stacks.arrays.items():
        if not select.any():
            continue
        failures = np.vstack(arrays["failures"])[select]
        councils = np.vstack(arrays["councils"])[select]
        with_failures = failures > 0
        if not with_failures[:, 0].any():
            continue
        row: dict = {
            "ranking": name,
            "quarters_with_failures": int(with_failures[:, 0].sum()),
            "failure_council_quarters": int(failures[:, 0].sum()),
            "base_rate": float(np.mean((failures[:, 0] / councils[:, 0])[with_failures[:, 0]])),
        }
        for key in METRICS:
            values = np.vstack(arrays[key])[select]
            values = np.where(with_failures, values, np.nan)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                means = np.nanmean(values, axis=0)
            row[key] = _plain(means[0])
            if means.size > 1 and key in INTERVAL_METRICS:
                resampled = means[1:][~np.isnan(means[1:])]
                low, high = (
                    np.percentile(resampled, [2.5, 97.5]) if resampled.size else (np.nan, np.nan)
                )
                row[f"{key}_low"], row[f"{key}_high"] = _plain(low), _plain(high)
        out.append(row)
    return out


def _order_rankings(frame: pl.DataFrame) -> pl.DataFrame:
    """Main score, baseline, then single indicators by ROC AUC, then random."""
    if frame.is_empty():
        return frame
    kind = (
        pl.when(pl.col("ranking") == MAIN)
        .then(0)
        .when(pl.col("ranking") == BASELINE)
        .then(1)
        .when(pl.col("ranking") == RANDOM)
        .then(3)
        .otherwise(2)
    )
    return frame.sort(
        [kind, pl.col("roc_auc").fill_null(-1.0), pl.col("ranking")],
        descending=[False, True, False],
    )


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def band_calibration(observed: pl.DataFrame, council_weights, council_index) -> list[dict]:
    """Pooled over the observed quarters: of the council-quarters in each band, the share
    that failed within the horizon, with a 95% bootstrap interval (councils resampled)."""
    rows = []
    if "risk_band" not in observed.columns:
        return rows
    for (band,), group in observed.group_by("risk_band"):
        codes = group.get_column("council_code").to_list()
        w = council_weights[:, [council_index[c] for c in codes]]
        y = group.get_column("failed").to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (w * y).sum(axis=1) / w.sum(axis=1)
        row = {
            "risk_band": band,
            "council_quarters": group.height,
            "councils": group.get_column("council_code").n_unique(),
            "failed_council_quarters": int(y.sum()),
            "failed_councils": group.filter(pl.col("failed")).get_column("council_code").n_unique(),
            "share_failed": float(share[0]),
        }
        if share.size > 1:
            low, high = np.nanpercentile(share[1:], [2.5, 97.5])
            row["share_failed_low"], row["share_failed_high"] = float(low), float(high)
        rows.append(row)
    order = {b: i for i, b in enumerate(BAND_ORDER)}
    return sorted(rows, key=lambda r: order.get(r["risk_band"], len(order)))


def evaluate(
    watchlist: pl.DataFrame,
    events: pl.DataFrame,
    horizon_days: int = 1096,
    complete_until: date | None = None,
    indicator_scores: pl.DataFrame | None = None,
    options: BacktestOptions | None = None,
    severities: pl.DataFrame | None = None,
    ceiling_penalty: float = 1.0,
) -> BacktestResult:
    """Score every as-of quarter whose horizon is fully observed by `complete_until`, for the
    headline horizon and every horizon in `options`, for the main score, the baseline, each
    indicator alone and a random ranking."""
    options = options or BacktestOptions()
    wide = watchlist
    if indicator_scores is not None and not indicator_scores.is_empty():
        alone = indicator_rankings(indicator_scores)
        columns = [c for c in alone.columns if c.startswith(INDICATOR_PREFIX)]
        # Where an indicator could not be scored (or does not apply) it says nothing about the
        # council: placed at the quarter's median, not last (last would credit an indicator
        # that does not apply to districts with every district's later good fortune).
        wide = watchlist.join(alone, on=["quarter", "council_code"], how="left").with_columns(
            pl.col(c).fill_null(pl.col(c).median().over("quarter")) for c in columns
        )
    until = complete_until or events.get_column("event_date").max() or date.today()
    councils = sorted(set(watchlist.get_column("council_code").to_list()))
    council_index = {c: i for i, c in enumerate(councils)}
    weights = bootstrap_weights(len(councils), options.resamples, options.seed)
    horizons = sorted({*options.horizons_days, horizon_days})
    per_quarter, overall, by_type, calibration = [], [], [], []
    headline_stacks: _Stacks | None = None
    headline_observed = pl.DataFrame()
    for days in horizons:
        labelled = label(wide, events, days)
        observed = labelled.filter(pl.col("as_of_date") + pl.duration(days=days) <= pl.lit(until))
        rows, stacks = _score_quarters(observed, weights, council_index)
        per_quarter += [{"horizon_days": days, **r} for r in rows]
        overall += [{"horizon_days": days, **r} for r in _aggregate(stacks)]
        calibration += [
            {"horizon_days": days, **r} for r in band_calibration(observed, weights, council_index)
        ]
        if days == horizon_days:
            headline_stacks = stacks
            headline_observed = observed
            if "council_type" in observed.columns:
                for (council_type,), part in observed.group_by("council_type"):
                    _, type_stacks = _score_quarters(part, weights, council_index)
                    by_type += [
                        {"council_type": council_type, **r} for r in _aggregate(type_stacks)
                    ]
    headline = pl.col("horizon_days") == horizon_days
    per_quarter_frame = _frame(per_quarter)
    overall_frame = _frame(overall)
    if per_quarter_frame.height:
        per_quarter_frame = per_quarter_frame.sort("horizon_days", "quarter", "ranking")
    targets = None
    if headline_stacks is not None:
        first, last = options.target_quarters
        keep = [first <= q <= last for q in headline_stacks.quarters]
        target_rows = _order_rankings(_frame(_aggregate(headline_stacks, keep)))
        targets = TargetCheck.from_rows(target_rows, options, first, last)
        in_window = headline_observed.filter(
            pl.col("quarter").is_between(pl.lit(first), pl.lit(last))
        )
        if "council_type" in in_window.columns:
            # Each quarter's councils of one type form a group of their own: how well each
            # ranking orders councils of the same kind, with no credit for telling the kinds
            # apart (failures are commoner among some types than others).
            by_kind = in_window.with_columns(
                (pl.col("quarter") + " " + pl.col("council_type")).alias("quarter")
            )
            _, kind_stacks = _score_quarters(by_kind, weights, council_index)
            targets = replace(targets, within_type=_order_rankings(_frame(_aggregate(kind_stacks))))
        if severities is not None:
            targets = replace(
                targets,
                hindsight_ceiling=hindsight_ceiling(severities, in_window, ceiling_penalty),
            )
    return BacktestResult(
        per_quarter=per_quarter_frame.filter(headline)
        if per_quarter_frame.height
        else per_quarter_frame,
        per_quarter_all=per_quarter_frame,
        overall=_order_rankings(overall_frame.filter(headline))
        if overall_frame.height
        else overall_frame,
        overall_all=overall_frame,
        by_type=_order_rankings(_frame(by_type)).sort("council_type", maintain_order=True)
        if by_type
        else pl.DataFrame(),
        band_calibration=_frame(calibration),
        targets=targets,
        lead_times=lead_times(watchlist, events, horizon_days),
        lift_curve=lift_curve(
            label(wide, events, horizon_days).filter(
                pl.col("as_of_date") + pl.duration(days=horizon_days) <= pl.lit(until)
            )
        ),
    )


def lead_times(watchlist: pl.DataFrame, events: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """For each council's first event after the first watchlist: the first as-of date within
    the horizon before it at which the council (not yet known) was banded elevated or high, and
    the days from then to the event. Never flagged: no lead time."""
    if watchlist.is_empty():
        return pl.DataFrame()
    first_as_of = watchlist.get_column("as_of_date").min()
    names = watchlist.group_by("council_code").agg(pl.col("council_name").last())
    first_events = (
        events.filter(pl.col("event_date") > pl.lit(first_as_of))
        .sort("event_date")
        .group_by("council_code")
        .agg(pl.col("event_date").first(), pl.col("event_type").first())
    )
    flagged = watchlist.filter(
        ~pl.col("known_case") & pl.col("risk_band").is_in(list(ELEVATED_BANDS))
    ).select("council_code", "as_of_date", "quarter")
    in_window = (
        first_events.join(flagged, on="council_code", how="inner")
        .filter(
            (pl.col("as_of_date") < pl.col("event_date"))
            & (pl.col("as_of_date") >= pl.col("event_date") - pl.duration(days=horizon_days))
        )
        .group_by("council_code")
        .agg(
            pl.col("as_of_date").min().alias("first_elevated_as_of"),
            pl.col("quarter").sort_by("as_of_date").first().alias("first_elevated_quarter"),
        )
    )
    return (
        first_events.join(names, on="council_code", how="left")
        .join(in_window, on="council_code", how="left")
        .with_columns(
            (pl.col("event_date") - pl.col("first_elevated_as_of"))
            .dt.total_days()
            .alias("lead_time_days")
        )
        .sort("event_date")
    )


def lift_curve(observed: pl.DataFrame) -> pl.DataFrame:
    """Cumulative share of failures found against share of councils reviewed, pooled over the
    observed quarters, for the main score and the baseline (ranked within each quarter)."""
    if observed.is_empty():
        return pl.DataFrame()
    curves = []
    total = max(int(observed.get_column("failed").sum()), 1)
    for column, name in RANKINGS.items():
        ranked = observed.with_columns(
            (
                pl.col(column).rank("ordinal", descending=True).over("quarter")
                / pl.len().over("quarter")
            ).alias("share_reviewed")
        ).sort("share_reviewed")
        curves.append(
            ranked.select(
                pl.lit(name).alias("ranking"),
                "share_reviewed",
                (pl.col("failed").cast(pl.Int64).cum_sum() / total).alias("share_found"),
            )
        )
    return pl.concat(curves)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(frame: pl.DataFrame, columns: list[str]) -> str:
    if frame.is_empty():
        return "_no quarter with a complete, observed horizon_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def write_lift_chart(curve: pl.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=110)
    for name, part in curve.group_by("ranking", maintain_order=True):
        axes.plot(part["share_reviewed"], part["share_found"], label=str(name[0]))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random ranking")
    axes.set_xlabel("share of councils reviewed (highest score first)")
    axes.set_ylabel("share of later failures found")
    axes.set_title("Lift: failures found within the horizon")
    axes.legend(loc="lower right")
    figure.tight_layout()
    temp = path.with_suffix(".tmp.png")
    figure.savefig(temp)
    plt.close(figure)
    os.replace(temp, path)
    return path


def write_auc_chart(overall: pl.DataFrame, path: Path, top: int = 12) -> Path:
    """ROC AUC with its 95% bootstrap interval: main score, baseline and the best indicators."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = pl.concat(
        [
            overall.filter(~pl.col("ranking").str.starts_with(INDICATOR_PREFIX)),
            overall.filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX)).head(top),
        ],
        how="diagonal_relaxed",
    ).filter(pl.col("roc_auc").is_not_null())
    labels = [r.removeprefix(INDICATOR_PREFIX) for r in shown.get_column("ranking").to_list()]
    auc = shown.get_column("roc_auc").to_numpy()
    low = (
        shown.get_column("roc_auc_low").fill_null(np.nan).to_numpy()
        if "roc_auc_low" in shown.columns
        else auc
    )
    high = (
        shown.get_column("roc_auc_high").fill_null(np.nan).to_numpy()
        if "roc_auc_high" in shown.columns
        else auc
    )
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2), dpi=110)
    y = np.arange(len(labels))[::-1]
    axes.errorbar(
        auc, y, xerr=[np.nan_to_num(auc - low), np.nan_to_num(high - auc)], fmt="o", capsize=3
    )
    axes.axvline(0.5, linestyle="--", color="grey")
    axes.set_yticks(y, labels, fontsize=7)
    axes.set_xlabel("ROC AUC (mean over quarters; 95% bootstrap interval, councils resampled)")
    axes.set_xlim(0.2, 1.0)
    figure.tight_layout()
    temp = path.with_suffix(".tmp.png")
    figure.savefig(temp)
    plt.close(figure)
    os.replace(temp, path)
    return path


def _interval(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """`key` as 'value [low, high]' text for the tables."""
    if frame.is_empty() or key not in frame.columns:
        return frame
    low, high = f"{key}_low", f"{key}_high"
    if low not in frame.columns:
        return frame
    text = [
        _fmt(v) + (f" [{_fmt(lo)}, {_fmt(hi)}]" if lo is not None and hi is not None else "")
        for v, lo, hi in frame.select(key, low, high).iter_rows()
    ]
    return frame.with_columns(pl.Series(key, text, dtype=pl.String))


def headline_table(result: BacktestResult) -> str:
    """The README's table: main score, baseline, best single indicator and random."""
    overall = result.overall
    if overall.is_empty():
        return "_no quarter with a complete, observed horizon_"
    best = overall.filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX)).head(1)
    shown = pl.concat(
        [
            overall.filter(pl.col("ranking").is_in([MAIN, BASELINE])),
            best.with_columns(
                (
                    pl.lit("best single indicator (")
                    + pl.col("ranking").str.strip_prefix(INDICATOR_PREFIX)
                    + pl.lit(")")
                ).alias("ranking")
            ),
            overall.filter(pl.col("ranking") == RANDOM),
        ],
        how="diagonal_relaxed",
    )
    return markdown_table(
        _interval(shown, "roc_auc"),
        ["ranking", "precision_at_10", "precision_at_20", "recall_at_20", "lift_at_20", "roc_auc"],
    )


def targets_section(targets: TargetCheck | None, horizon_days: int) -> list[str]:
    lines = [
        "## Targets (issue 12)",
        "",
        f"Headline horizon ({horizon_days} days), as-of quarters "
        + (f"{targets.first_quarter} to {targets.last_quarter}" if targets else "-")
        + ", mean over the quarters with at least one later failure; 95% bootstrap interval "
        "(councils resampled) in brackets.",
        "",
    ]
    if targets is None or targets.rows.is_empty():
        return [*lines, "_no observed quarter in the target window_", ""]
    lines.append("| target | reached | met |")
    lines.append("|---|---:|---|")
    for check in targets.checks:
        lines.append(
            f"| {check['target']} | {_fmt(check['reached'])} | {'yes' if check['met'] else 'no'} |"
        )
    main, best = targets.main, targets.best_indicator
    lines += [
        "",
        f"Main score: ROC AUC {_fmt(main.get('roc_auc'))} "
        f"[{_fmt(main.get('roc_auc_low'))}, {_fmt(main.get('roc_auc_high'))}], lift at 20 "
        f"{_fmt(main.get('lift_at_20'))} [{_fmt(main.get('lift_at_20_low'))}, "
        f"{_fmt(main.get('lift_at_20_high'))}], over {main.get('quarters_with_failures', 0)} "
        f"quarters holding {main.get('failure_council_quarters', 0)} failure council-quarters.",
        f"Best single indicator: `{str(best.get('ranking', '-')).removeprefix(INDICATOR_PREFIX)}`"
        f", ROC AUC {_fmt(best.get('roc_auc'))} [{_fmt(best.get('roc_auc_low'))}, "
        f"{_fmt(best.get('roc_auc_high'))}].",
        "",
    ]
    within = targets.within_type
    if within.height:
        within_main = next(iter(within.filter(pl.col("ranking") == MAIN).to_dicts()), {})
        within_best = next(
            iter(
                within.filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX))
                .sort(pl.col("roc_auc").fill_null(-1.0), descending=True)
                .head(1)
                .to_dicts()
            ),
            {},
        )
        same = next(iter(within.filter(pl.col("ranking") == best.get("ranking")).to_dicts()), {})
        lines += [
            "Within council types (each council compared only with councils of its own type, "
            "so no credit for telling the types apart; mean over the quarter-and-type groups "
            f"holding a failure): main score ROC AUC {_fmt(within_main.get('roc_auc'))} "
            f"[{_fmt(within_main.get('roc_auc_low'))}, {_fmt(within_main.get('roc_auc_high'))}]"
            f"; `{str(best.get('ranking', '-')).removeprefix(INDICATOR_PREFIX)}` "
            f"{_fmt(same.get('roc_auc'))}; best single indicator within types "
            f"`{str(within_best.get('ranking', '-')).removeprefix(INDICATOR_PREFIX)}` "
            f"{_fmt(within_best.get('roc_auc'))}.",
            "",
        ]
    ceiling, best_auc = targets.hindsight_ceiling, best.get("roc_auc")
    if ceiling is not None and best_auc is not None:
        lines += [
            f"Hindsight ceiling: the indicators' severities re-weighted by a non-negative "
            f"logistic regression fitted on this window's own outcomes (it sees the future: a "
            f"ceiling, not a method) rank them at ROC AUC {ceiling:.3f}, "
            f"{ceiling - best_auc:+.3f} against the best single indicator. A margin above that "
            "is out of reach of any choice of weights over these severities.",
            "",
        ]
    lines += [
        markdown_table(
            _interval(targets.rows.head(12), "roc_auc"),
            ["ranking", "precision_at_20", "lift_at_20", "roc_auc"],
        ),
        "",
    ]
    return lines


def report_text(
    result: BacktestResult, horizon_days: int, events: str, chart: bool, auc_chart: bool
) -> str:
    metric_columns = ["ranking", "quarters_with_failures", "failure_council_quarters", "base_rate"]
    metric_columns += [f"precision_at_{k}" for k in KS] + ["recall_at_20"]
    metric_columns += [f"lift_at_{k}" for k in KS] + ["roc_auc"]
    lead = result.lead_times
    horizons = []
    if result.overall_all.height:
        for (days,), part in result.overall_all.group_by("horizon_days", maintain_order=True):
            summary = _order_rankings(part).filter(
                ~pl.col("ranking").str.starts_with(INDICATOR_PREFIX)
                | pl.col("ranking").is_in(
                    _order_rankings(part)
                    .filter(pl.col("ranking").str.starts_with(INDICATOR_PREFIX))
                    .head(3)
                    .get_column("ranking")
                    .to_list()
                )
            )
            horizons += [
                f"### Within {days} days",
                "",
                markdown_table(
                    _interval(_interval(summary, "roc_auc"), "lift_at_20"),
                    [
                        "ranking",
                        "quarters_with_failures",
                        "failure_council_quarters",
                        "precision_at_20",
                        "lift_at_20",
                        "roc_auc",
                    ],
                ),
                "",
            ]
    calibration = result.band_calibration
    text = [
        "# Backtest of the watchlist",
        "",
        f"Events: `{events}`. Headline horizon: an event within {horizon_days} days after the "
        "as-of date. Councils already known at the as-of date are excluded. Failures are rare, "
        "so precision at k (of the k highest-ranked councils, how many failed) matters as "
        "much as ROC AUC. The random ranking's figures are its exact expectations. Figures "
        "are means over the quarters with at least one later failure; intervals in brackets "
        "are 95% bootstrap intervals from resampling councils (a council's quarters stay "
        "together), so they are wide when the failures are few.",
        "",
        "## Headline",
        "",
        headline_table(result),
        "",
        *targets_section(result.targets, horizon_days),
        "## Every ranking, headline horizon",
        "",
        "Each indicator alone ranks councils by its value, worse first (event indicators by "
        "their decayed strength, 0 when nothing is recorded); councils where it could not be "
        "scored (not applicable, no data) are placed at the quarter's median: no information.",
        "",
        markdown_table(_interval(result.overall, "roc_auc"), metric_columns),
        "",
        "![ROC AUC by ranking](auc.png)" if auc_chart else "",
        "",
        "## By horizon",
        "",
        *horizons,
        "## By council type (headline horizon)",
        "",
        markdown_table(
            _interval(
                result.by_type.filter(
                    pl.col("ranking").is_in([MAIN, BASELINE])
                    | pl.col("ranking").str.starts_with(INDICATOR_PREFIX)
                )
                .group_by("council_type", maintain_order=True)
                .head(4)
                if result.by_type.height
                else result.by_type,
                "roc_auc",
            ),
            [
                "council_type",
                "ranking",
                "quarters_with_failures",
                "failure_council_quarters",
                "precision_at_10",
                "lift_at_10",
                "roc_auc",
            ],
        ),
        "",
        "## What each band meant (calibration)",
        "",
        "Of the council-quarters (not already known) in each band, the share whose council "
        "failed within the horizon, pooled over the observed quarters.",
        "",
        markdown_table(
            _interval(calibration, "share_failed"),
            [
                "horizon_days",
                "risk_band",
                "council_quarters",
                "councils",
                "failed_council_quarters",
                "failed_councils",
                "share_failed",
            ],
        )
        if calibration.height
        else "_no observed quarter_",
        "",
        "## Lead time from first elevated band to the event",
        "",
        markdown_table(
            lead,
            [
                "council_code",
                "council_name",
                "event_type",
                "event_date",
                "first_elevated_quarter",
                "lead_time_days",
            ],
        )
        if lead.height
        else "_no events_",
        "",
        "## Lift chart",
        "",
        "![lift chart](lift.png)" if chart else "_no observed quarter_",
        "",
        "## Per quarter (headline horizon)",
        "",
        markdown_table(
            result.per_quarter.filter(pl.col("ranking").is_in([MAIN, BASELINE, RANDOM]))
            if result.per_quarter.height
            else result.per_quarter,
            [
                "quarter",
                "ranking",
                "councils",
                "failures",
                "precision_at_10",
                "precision_at_20",
                "recall_at_20",
                "roc_auc",
            ],
        ),
        "",
    ]
    return "\n".join(text)


def _atomic_write(path: Path, text: str) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def write_report(result: BacktestResult, out_dir: Path, horizon_days: int, events: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = (
        write_lift_chart(result.lift_curve, out_dir / "lift.png")
        if not result.lift_curve.is_empty()
        else None
    )
    auc_chart = (
        write_auc_chart(result.overall, out_dir / "auc.png") if result.overall.height else None
    )
    text = report_text(result, horizon_days, events, chart is not None, auc_chart is not None)
    report = out_dir / "backtest.md"
    _atomic_write(report, text)
    _atomic_write(out_dir / "backtest.html", _html(text))
    _atomic_write(out_dir / "readme_table.md", headline_table(result) + "\n")
    result.per_quarter_all.write_csv(out_dir / "per_quarter.csv")
    if result.overall_all.height:
        result.overall_all.write_csv(out_dir / "overall.csv")
    if result.band_calibration.height:
        result.band_calibration.write_csv(out_dir / "band_calibration.csv")
    return report


README_START, README_END = "<!-- backtest-table:start -->", "<!-- backtest-table:end -->"


def update_readme(readme: Path, table_file: Path) -> bool:
    """Replace the README's backtest table (between its markers) with the generated one."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: no {README_START} ... {README_END} markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    table = table_file.read_text(encoding="utf-8").strip()
    new = f"{head}{README_START}\n{table}\n{README_END}{tail}"
    changed = new != text
    if changed:
        _atomic_write(readme, new)
    return changed


def _html(markdown: str) -> str:
    """A plain, offline HTML rendering of the report's Markdown (tables, headings, image)."""
    import html as html_lib

    body: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if not table:
            return
        rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-", ":"}]
        cells = [[html_lib.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
        head = "".join(f"<th>{c}</th>" for c in cells[0])
        rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
        body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("### "):
            body.append(f"<h3>{html_lib.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html_lib.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html_lib.escape(line[2:])}</h1>")
        elif line.startswith("![ROC AUC"):
            body.append('<img src="auc.png" alt="ROC AUC of each ranking with its interval">')
        elif line.startswith("!["):
            body.append('<img src="lift.png" alt="Lift chart of failures found">')
        elif line.strip():
            body.append(f"<p>{html_lib.escape(line)}</p>")
    flush()
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Backtest</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


class BacktestConfig(dg.Config):
    events_path: str = ""  # empty: the shipped known-case registers
    horizon_days: int = 1096  # about three years
    complete_until: str = ""  # empty: the latest event date in the events


@dg.asset(
    key=["backtest", "backtest_report"],
    deps=[dg.AssetKey(["watchlist", "watchlist"]), dg.AssetKey(["scores", "indicator_scores"])],
    group_name="backtest",
    kinds={"duckdb", "markdown"},
    pool="warehouse",
    description="Backtest of every built quarter's watchlist against failures that followed "
    "within 1, 2 and 3 years (ROC AUC, precision/recall/lift at 10, 20, 30, with bootstrap "
    "intervals; by council type; lead time; band calibration) for the main score, the "
    "reserves-only baseline, every indicator alone and a random ranking, and the issue-12 "
    "targets. Report and charts in <output>/backtest/.",
)
def backtest_report(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    warehouse: Warehouse,
    parquet_outputs: ParquetOutputs,
) -> dg.MaterializeResult:
    catalogue = load_indicator_catalogue()
    options = catalogue.backtest
    with warehouse.connect(read_only=True) as connection:
        watchlist = query_frame(connection, load_sql("backtest/watchlists"))
        indicator_scores = query_frame(connection, load_sql("backtest/indicator_rankings"))
        severities = query_frame(connection, load_sql("scoring/training_rows"))
        if config.events_path:
            events = read_events(Path(config.events_path))
            events_name = config.events_path
        else:
            events = query_frame(connection, load_sql("backtest/known_case_events"))
            kinds = ", ".join(sorted(set(events.get_column("event_type").to_list())))
            events_name = f"shipped registers ({kinds})"
    until = date.fromisoformat(config.complete_until) if config.complete_until else None
    result = evaluate(
        watchlist,
        events,
        config.horizon_days,
        until,
        indicator_scores,
        options,
        severities,
        catalogue.scoring.fit_l2_penalty,
    )
    out_dir = Path(parquet_outputs.output_dir) / "backtest"
    report = write_report(result, out_dir, config.horizon_days, events_name)
    context.log.info(f"backtest report: {report}")
    metadata: dict = {
        "report": dg.MetadataValue.path(str(report)),
        "auc_chart": dg.MetadataValue.path(str(out_dir / "auc.png")),
        "lift_chart": dg.MetadataValue.path(str(out_dir / "lift.png")),
        "quarters_evaluated": result.per_quarter.get_column("quarter").n_unique()
        if result.per_quarter.height
        else 0,
        "events": events.height,
        "bootstrap_resamples": options.resamples,
        "headline": dg.MetadataValue.md(headline_table(result)),
        "targets": dg.MetadataValue.md(
            "\n".join(targets_section(result.targets, config.horizon_days))
        ),
        "band_calibration": dg.MetadataValue.md(
            markdown_table(
                _interval(result.band_calibration, "share_failed"),
                [
                    "horizon_days",
                    "risk_band",
                    "council_quarters",
                    "failed_councils",
                    "share_failed",
                ],
            )
        ),
    }
    main = (
        result.overall.filter(pl.col("ranking") == MAIN)
        if result.overall.height
        else result.overall
    )
    if main.height:
        for column in (
            "precision_at_10",
            "precision_at_20",
            "recall_at_20",
            "lift_at_20",
            "roc_auc",
        ):
            value = main.get_column(column).item()
            if value is not None:
                metadata[f"main_{column}"] = float(value)
    if result.targets is not None and result.targets.checks:  # none: no quarter in the window
        for check, name in zip(
            result.targets.checks,
            ("target_roc_auc", "target_lift_at_20", "target_auc_margin"),
            strict=True,
        ):
            if check["reached"] is not None:
                metadata[name] = float(check["reached"])
            metadata[f"{name}_met"] = bool(check["met"])
        within_main = result.targets.within_type.filter(pl.col("ranking") == MAIN)
        if within_main.height and within_main.item(0, "roc_auc") is not None:
            metadata["target_within_type_roc_auc"] = float(within_main.item(0, "roc_auc"))
        if result.targets.hindsight_ceiling is not None:
            metadata["target_hindsight_ceiling"] = result.targets.hindsight_ceiling
    return dg.MaterializeResult(metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    """`python -m assets.backtest readme [README.md] [table]`: put the generated backtest table
    (data/output/backtest/readme_table.md, written by the backtest asset) into the README."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "readme":
        print("usage: python -m assets.backtest readme [README.md] [readme_table.md]")
        return 2
    readme = Path(args[1]) if len(args) > 1 else Path("README.md")
    table = (
        Path(args[2])
        if len(args) > 2
        else Path(os.environ.get("EARLY_WARNING_OUTPUT_DIR", "data/output"))
        / "backtest"
        / "readme_table.md"
    )
    changed = update_readme(readme, table)
    print(f"{readme}: backtest table {'updated' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
