"""Check that the pandas baseline computes what the pipeline computes, on the same estate.

Compares, for one quarter, every peer, absolute and context evaluation of every council (state,
value, previous value, peer group size, peer median, robust z, percentile, national
percentile, flag, severity, contribution) of the indicators the baseline computes, and every
council's score summed over those indicators, to a relative tolerance. The finance series'
indicators the baseline does not compute (`OUTSIDE_BASELINE`) are counted, not compared; so are
bands and ranks, which depend on them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.pandas_baseline import OUTSIDE_BASELINE
from pipelines.partitions import quarter_label

NUMBERS = {
    "value": "value",
    "previous_value": "previous_value",
    "peer_group_size": "peer_size",
    "peer_median": "peer_median",
    "robust_z": "robust_z",
    "percentile": "peer_percentile",
    "national_percentile": "national_percentile",
    "severity": "severity",
    "contribution": "contribution",
}


def _close(a: pd.Series, b: pd.Series, tolerance: float) -> pd.Series:
    a, b = a.astype(float), b.astype(float)
    both_missing = a.isna() & b.isna()
    return both_missing | ((a - b).abs() <= tolerance * (1 + a.abs().fillna(0)))


def compare(warehouse: Path, baseline_dir: Path, partition_key: str, tolerance: float = 1e-9):
    """A dict of what was compared and how many rows disagree (all zero: the same)."""
    quarter = quarter_label(partition_key)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        pipeline = connection.execute(
            "SELECT * FROM scores.indicator_scores WHERE quarter = ? "
            "AND method IN ('peer', 'absolute', 'context')",
            [quarter],
        ).df()
        ranked = connection.execute(
            "SELECT council_code FROM watchlist.watchlist WHERE quarter = ?", [quarter]
        ).df()
    outside = pipeline["indicator_id"].isin(OUTSIDE_BASELINE)
    not_compared = int(outside.sum())
    pipeline = pipeline[~outside]
    # Each council's score over the compared indicators (its published score also holds the
    # ones left out).
    shared_score = pipeline.groupby("council_code", as_index=False)["contribution"].sum()
    ranked = ranked.merge(
        shared_score.rename(columns={"contribution": "risk_score"}), on="council_code", how="left"
    )
    baseline = pd.read_parquet(baseline_dir / "scores.parquet")
    baseline = baseline[~baseline["indicator_id"].isin(OUTSIDE_BASELINE)]
    per_council = pd.read_parquet(baseline_dir / "watchlist.parquet")
    joined = pipeline.merge(
        baseline,
        on=["council_code", "indicator_id"],
        how="outer",
        suffixes=("", "_pd"),
        indicator=True,
    )
    result: dict[str, object] = {
        "quarter": quarter,
        "evaluations": len(pipeline),
        "not_compared": not_compared,
        "only_in_one": int((joined["_merge"] != "both").sum()),
    }
    both = joined[joined["_merge"] == "both"]
    result["state"] = int((both["state"] != both["state_pd"]).sum())
    flagged = both["flagged"].astype(bool) != both["flagged_pd"].astype(bool)
    result["flagged"] = int(flagged.sum())
    scored = both[both["state"] == "scored"]
    result["scored"] = len(scored)
    for ours, theirs in NUMBERS.items():
        # Values are compared wherever there is one; peer statistics where a value was judged.
        rows = both if ours in ("value", "previous_value") else scored
        other = rows[f"{theirs}_pd" if theirs == ours else theirs]
        result[ours] = int((~_close(rows[ours], other, tolerance)).sum())
    councils = ranked.merge(per_council, on="council_code", how="outer", suffixes=("", "_pd"))
    result["councils"] = len(ranked)
    same_score = _close(councils["risk_score"], councils["risk_score_pd"], tolerance)
    result["risk_score"] = int((~same_score).sum())
    result["flags_raised"] = int(pipeline["flagged"].sum())
    counted = ("evaluations", "not_compared", "scored", "councils", "flags_raised")
    mismatches = sum(v for k, v in result.items() if isinstance(v, int) and k not in counted)
    result["same"] = mismatches == 0
    result["tolerance"] = tolerance
    return result
