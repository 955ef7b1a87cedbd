"""Ranking metrics for the backtest, vectorised over bootstrap resamples.

Every metric takes one quarter's councils (scores, failure labels) and a matrix of council
weights, one row per resample: a row of ones is the plain figure, a row of bootstrap counts
(how many times each council was drawn) is one resample. Resampling councils rather than
council-quarters keeps a council's quarters together: they are strongly correlated, and the
few later failures would otherwise look many times more numerous than they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KS = (10, 20, 30)


@dataclass(frozen=True)
class RankingMetrics:
    """One array per metric, one value per weight row (resample)."""

    councils: np.ndarray
    failures: np.ndarray
    roc_auc: np.ndarray
    precision: dict[int, np.ndarray]
    recall: dict[int, np.ndarray]
    lift: dict[int, np.ndarray]


def comparable(scores: np.ndarray) -> np.ndarray:
    """Scores as floats where a missing score (NaN) ranks below every real one, tied."""
    values = np.asarray(scores, dtype=float)
    return np.where(np.isnan(values), -np.inf, values)


def weighted_roc_auc(scores: np.ndarray, failed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Probability that a failed council outranks one that did not, ties counting half, each
    council counted as often as its weight; NaN where a resample has no positive or negative."""
    s = comparable(scores)
    y = np.asarray(failed, dtype=bool)
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    new_group = np.r_[True, s_sorted[1:] != s_sorted[:-1]] if s.size else np.array([], bool)
    starts = np.flatnonzero(new_group)
    group_of = np.cumsum(new_group) - 1
    w = np.atleast_2d(weights)[:, order]
    positive_w = w * y[order]
    negative_w = w * ~y[order]
    if not s.size:
        return np.full(w.shape[0], np.nan)
    group_negatives = np.add.reduceat(negative_w, starts, axis=1)
    below = np.cumsum(group_negatives, axis=1) - group_negatives
    credit = below[:, group_of] + 0.5 * group_negatives[:, group_of]
    n_pos, n_neg = positive_w.sum(axis=1), negative_w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (positive_w * credit).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def ranking_metrics(
    scores: np.ndarray,
    failed: np.ndarray,
    tiebreak: np.ndarray,
    weights: np.ndarray,
    ks: tuple[int, ...] = KS,
) -> RankingMetrics:
    """Precision, recall and lift at each k, and ROC AUC. The top k are the k highest scores,
    ties at the cut broken by `tiebreak` (the council code's order, as the watchlist prints);
    with weights, the top k are the first k units of weight in that order (a council drawn
    twice fills two places)."""
    s = comparable(scores)
    y = np.asarray(failed, dtype=bool)
    w_all = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.lexsort((np.asarray(tiebreak), -s))
    w = w_all[:, order]
    y_ordered = y[order]
    cumulative = np.cumsum(w, axis=1)
    before = cumulative - w
    councils = w.sum(axis=1)
    failures = (w * y_ordered).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_rate = failures / councils
    precision, recall, lift = {}, {}, {}
    for k in ks:
        kk = np.minimum(float(k), councils)
        taken = np.clip(kk[:, None] - before, 0.0, w)
        hits = (taken * y_ordered).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision[k] = np.where(kk > 0, hits / kk, np.nan)
            recall[k] = np.where(failures > 0, hits / failures, np.nan)
            lift[k] = np.where(base_rate > 0, precision[k] / base_rate, np.nan)
    return RankingMetrics(
        councils=councils,
        failures=failures,
        roc_auc=weighted_roc_auc(s, y, w_all),
        precision=precision,
        recall=recall,
        lift=lift,
    )


def random_metrics(councils: np.ndarray, failures: np.ndarray, ks: tuple[int, ...] = KS):
    """A random ranking's exact expectations: precision = base rate, recall = k / n, lift 1,
    ROC AUC 0.5 (undefined without both a failure and a non-failure)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        base_rate = failures / councils
        defined = (failures > 0) & (failures < councils)
        precision = {k: np.where(councils > 0, base_rate, np.nan) for k in ks}
        recall = {
            k: np.where(failures > 0, np.minimum(float(k), councils) / councils, np.nan) for k in ks
        }
        lift = {k: np.where(base_rate > 0, 1.0, np.nan) for k in ks}
    return RankingMetrics(
        councils=councils,
        failures=failures,
        roc_auc=np.where(defined, 0.5, np.nan),
        precision=precision,
        recall=recall,
        lift=lift,
    )


def bootstrap_weights(n_councils: int, resamples: int, seed: int) -> np.ndarray:
    """Row 0 is all ones (the plain figures); rows 1..resamples are draws of n councils with
    replacement, as counts per council."""
    rng = np.random.default_rng(seed)
    ones = np.ones((1, n_councils))
    if resamples <= 0 or n_councils == 0:
        return ones
    draws = rng.multinomial(n_councils, np.full(n_councils, 1.0 / n_councils), size=resamples)
    return np.vstack([ones, draws.astype(float)])
