"""The backtest's method (issue 12) on tiny hand-built examples whose answers are known by
construction: weighted ROC AUC and precision at k, the council bootstrap, every indicator
alone, horizons, council types, band calibration and the targets section; and the guarantee
that a point-in-time fitted model never sees an event after its as-of date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assets.backtest import (
    BASELINE,
    INDICATOR_PREFIX,
    MAIN,
    README_END,
    README_START,
    evaluate,
    indicator_rankings,
    targets_section,
    update_readme,
    write_report,
)
from assets.backtest_metrics import (
    bootstrap_weights,
    ranking_metrics,
    weighted_roc_auc,
)
from assets.fitted_weights import fit_logistic, fit_weights, training_set
from pipelines.indicator_catalogue import BacktestOptions, ScoringOptions

# --------------------------------------------------------------------------------------------
# Metrics by construction
# --------------------------------------------------------------------------------------------


def test_auc_of_a_perfect_a_reversed_and_a_tied_ranking() -> None:
    failed = np.array([True, False, False, False])
    ones = np.ones(4)
    assert weighted_roc_auc(np.array([4.0, 3, 2, 1]), failed, ones)[0] == 1.0
    assert weighted_roc_auc(np.array([1.0, 2, 3, 4]), failed, ones)[0] == 0.0
    assert weighted_roc_auc(np.array([1.0, 1, 1, 1]), failed, ones)[0] == 0.5
    # The failure outranks 2 of 3 and ties 1: (2 + 0.5) / 3.
    assert weighted_roc_auc(np.array([2.0, 2, 1, 1]), failed, ones)[0] == pytest.approx(2.5 / 3)
    # Missing scores rank below every real one, tied with each other.
    scores = np.array([np.nan, 1.0, np.nan, np.nan])
    assert weighted_roc_auc(scores, failed, ones)[0] == pytest.approx(1 / 3)  # 0 + .5 + .5
    # No failure: undefined.
    assert np.isnan(weighted_roc_auc(np.array([1.0, 2]), np.array([False, False]), np.ones(2))[0])


def test_weights_count_a_council_as_often_as_it_was_drawn() -> None:
    """Weights (1, 2, 0, 1): the failure (score 3) is compared with two copies of the council
    scored 4 and one scored 1; the council scored 2 was not drawn. AUC = 1 / 3."""
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    failed = np.array([False, True, False, False])
    weights = np.array([[1.0, 1, 1, 1], [2.0, 1, 0, 1]])
    auc = weighted_roc_auc(scores, failed, weights)
    assert auc[0] == pytest.approx(2 / 3)
    assert auc[1] == pytest.approx(1 / 3)
    # The same as repeating the councils: [4, 4, 3, 1].
    repeated = weighted_roc_auc(
        np.array([4.0, 4, 3, 1]), np.array([False, False, True, False]), np.ones(4)
    )
    assert repeated[0] == pytest.approx(auc[1])


def test_precision_and_lift_at_k_with_ties_broken_by_code_and_weights() -> None:
    scores = np.array([5.0, 5.0, 3.0, 2.0, 1.0])
    failed = np.array([False, True, True, False, False])
    tiebreak = np.array([0, 1, 2, 3, 4])  # the first council's code sorts first
    m = ranking_metrics(scores, failed, tiebreak, np.ones((1, 5)), ks=(1, 2, 3))
    assert m.precision[1][0] == 0.0  # the tie at 5 goes to council 0, which did not fail
    assert m.precision[2][0] == pytest.approx(0.5)
    assert m.precision[3][0] == pytest.approx(2 / 3)
    assert m.recall[3][0] == 1.0
    assert m.lift[2][0] == pytest.approx(0.5 / (2 / 5))
    # Council 0 drawn twice fills the first two places: no failure in the top 2.
    m = ranking_metrics(scores, failed, tiebreak, np.array([[2.0, 1, 1, 1, 1]]), ks=(2, 3))
    assert m.precision[2][0] == 0.0
    assert m.precision[3][0] == pytest.approx(1 / 3)
    # k larger than the councils: precision over all of them.
    m = ranking_metrics(scores, failed, tiebreak, np.ones((1, 5)), ks=(30,))
    assert m.precision[30][0] == pytest.approx(2 / 5)


def test_bootstrap_resamples_councils_with_replacement() -> None:
    weights = bootstrap_weights(50, resamples=200, seed=1)
    assert weights.shape == (201, 50)
    assert (weights[0] == 1).all()  # row 0: the plain figures
    assert (weights[1:].sum(axis=1) == 50).all()  # each resample draws 50 councils
    assert (weights[1:] == 0).any() and (weights[1:] >= 2).any()  # some left out, some twice
    # Each council is drawn once per resample on average.
    assert weights[1:].mean() == pytest.approx(1.0)
    assert (bootstrap_weights(50, 200, 1) == weights).all()  # repeatable with the seed


# --------------------------------------------------------------------------------------------
# The backtest's tables on a hand-built history
# --------------------------------------------------------------------------------------------

QUARTERS = [("2017Q4", date(2017, 12, 31)), ("2018Q4", date(2018, 12, 31))]
QUARTER_SPAN = ("2017Q4", "2018Q4")
CODES = [f"E0{i:07d}" for i in range(12)]
TYPES = ["unitary"] * 6 + ["district"] * 6


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Twelve councils over two quarters. Council 0 (unitary) and council 6 (district) fail in
    mid-2019. The main score ranks council 0 first and council 6 last; the baseline is flat;
    the indicator `good_signal` ranks both failures first; `no_signal` is the reverse of the
    code order. Council 11 is a known case (its event came before both quarters)."""
    rows, values = [], []
    for quarter, as_of in QUARTERS:
        for i, code in enumerate(CODES):
            rows.append(
                {
                    "quarter": quarter,
                    "as_of_date": as_of,
                    "council_code": code,
                    "council_name": f"Fictional {i}",
                    "council_type": TYPES[i],
                    "known_case": i == 11,
                    "risk_score": 100.0 - i if i != 6 else -1.0,
                    "baseline_score": 1.0,
                    "risk_band": "high" if i == 0 else "watch" if i < 4 else "no flags",
                    "rank": i + 1,
                }
            )
            for indicator, value in (
                ("good_signal", 1.0 if i in (0, 6) else 0.0),
                ("no_signal", -i),
            ):
                values.append(
                    {
                        "quarter": quarter,
                        "council_code": code,
                        "indicator_id": indicator,
                        "method": "peer",
                        "polarity": "higher_is_worse",
                        "state": "scored",
                        "value": float(value),
                    }
                )
    return pl.DataFrame(rows), pl.DataFrame(values)


EVENTS = pl.DataFrame(
    {
        "council_code": [CODES[0], CODES[6], CODES[11]],
        "event_date": [date(2019, 6, 30), date(2019, 7, 31), date(2017, 6, 1)],
        "event_type": ["section 114 notice", "exceptional financial support", "intervention"],
    }
)


@pytest.fixture(scope="module")
def history_result():
    watchlist, values = _history()
    options = BacktestOptions(
        horizons_days=(365, 730), resamples=50, seed=3, target_quarters=("2017Q4", "2018Q4")
    )
    return evaluate(watchlist, EVENTS, 730, date(2030, 1, 1), values, options)


def test_every_indicator_alone_is_a_ranking(history_result) -> None:
    overall = history_result.overall
    rankings = overall.get_column("ranking").to_list()
    assert rankings[:2] == [MAIN, BASELINE]
    assert f"{INDICATOR_PREFIX}good_signal" in rankings
    assert f"{INDICATOR_PREFIX}no_signal" in rankings
    auc = dict(zip(overall["ranking"], overall["roc_auc"], strict=True))
    # Each quarter: 11 councils not known, 2 failures within two years, 9 negatives.
    # good_signal ranks both failures first: AUC 1.
    assert auc[f"{INDICATOR_PREFIX}good_signal"] == 1.0
    # Main: council 0 outranks all 9 negatives, council 6 (score -1) none: 9 / 18.
    assert auc[MAIN] == pytest.approx(0.5)
    assert auc[BASELINE] == pytest.approx(0.5)  # all tied
    # no_signal = -i: council 0 outranks all 9, council 6 outranks councils 7..10: 13 / 18.
    assert auc[f"{INDICATOR_PREFIX}no_signal"] == pytest.approx(13 / 18)


def test_horizons_label_only_events_within_them(history_result) -> None:
    overall = history_result.overall_all
    one_year = overall.filter((pl.col("horizon_days") == 365) & (pl.col("ranking") == MAIN))
    two_years = overall.filter((pl.col("horizon_days") == 730) & (pl.col("ranking") == MAIN))
    # Within one year only the 2018Q4 quarter sees the 2019 events; within two both do.
    assert one_year.get_column("quarters_with_failures").item() == 1
    assert two_years.get_column("quarters_with_failures").item() == 2
    assert two_years.get_column("failure_council_quarters").item() == 4


def test_known_cases_are_left_out(history_result) -> None:
    per_quarter = history_result.per_quarter.filter(pl.col("ranking") == MAIN)
    councils = dict(zip(per_quarter["quarter"], per_quarter["councils"], strict=True))
    assert councils == {"2017Q4": 11, "2018Q4": 11}


def test_intervals_bracket_the_figure_and_a_perfect_ranking_stays_perfect(
    history_result,
) -> None:
    overall = history_result.overall
    row = overall.filter(pl.col("ranking") == f"{INDICATOR_PREFIX}good_signal").row(0, named=True)
    assert row["roc_auc_low"] == row["roc_auc_high"] == 1.0  # perfect in every resample
    main = overall.filter(pl.col("ranking") == MAIN).row(0, named=True)
    assert main["roc_auc_low"] <= main["roc_auc"] <= main["roc_auc_high"]
    assert main["roc_auc_low"] < main["roc_auc_high"]  # the failures are resampled too


def test_by_council_type(history_result) -> None:
    by_type = history_result.by_type
    main = by_type.filter(pl.col("ranking") == MAIN)
    auc = dict(zip(main["council_type"], main["roc_auc"], strict=True))
    # Unitaries: council 0 ranks first of six. Districts: council 6 ranks last of its type.
    assert auc == {"unitary": 1.0, "district": 0.0}


def test_band_calibration_is_the_share_that_failed(history_result) -> None:
    calibration = history_result.band_calibration.filter(pl.col("horizon_days") == 730)
    high = calibration.filter(pl.col("risk_band") == "high").row(0, named=True)
    assert (high["council_quarters"], high["failed_council_quarters"]) == (2, 2)
    assert high["share_failed"] == 1.0
    no_flags = calibration.filter(pl.col("risk_band") == "no flags").row(0, named=True)
    # Councils 4..10 (11 is known) in both quarters; council 6 failed within two years of both.
    assert (no_flags["council_quarters"], no_flags["failed_council_quarters"]) == (14, 2)


def test_targets_section_names_the_best_single_indicator(history_result) -> None:
    targets = history_result.targets
    assert targets is not None
    assert targets.best_indicator["ranking"] == f"{INDICATOR_PREFIX}good_signal"
    auc_check, lift_check, margin_check = targets.checks
    assert auc_check["reached"] == pytest.approx(0.5) and not auc_check["met"]
    assert margin_check["reached"] == pytest.approx(0.5 - 1.0) and not margin_check["met"]
    # 20 places for 11 councils: the top 20 is everyone, precision = the base rate, lift 1.
    assert lift_check["reached"] == pytest.approx(1.0) and not lift_check["met"]


def test_within_council_types_gives_no_credit_for_telling_types_apart(history_result) -> None:
    """Unitary council 0 and district 6 fail. The main score ranks council 0 first of the
    unitaries (AUC 1 among them) but council 6 last of the districts (AUC 0): 0.5 within types.
    `good_signal` puts each failure first within its type: 1. The section states both."""
    targets = history_result.targets
    assert targets is not None
    within = {r["ranking"]: r for r in targets.within_type.to_dicts()}
    assert within[MAIN]["roc_auc"] == pytest.approx(0.5)
    assert within[f"{INDICATOR_PREFIX}good_signal"]["roc_auc"] == pytest.approx(1.0)
    # Two groups (one per type) in each of the two quarters, each holding one failure.
    assert within[MAIN]["quarters_with_failures"] == 4
    text = "\n".join(targets_section(targets, 730))
    assert "Within council types" in text and "main score ROC AUC 0.500" in text
    assert "`good_signal` 1.000" in text


def _history_severities(signals: dict[str, list[float]]) -> pl.DataFrame:
    """Severities by indicator, one per council (index in CODES), the same in both quarters."""
    return pl.DataFrame(
        [
            {"quarter": q, "council_code": code, "indicator_id": i, "severity": values[n]}
            for q, _ in QUARTERS
            for i, values in signals.items()
            for n, code in enumerate(CODES)
        ]
    )


def test_the_hindsight_ceiling_reweights_the_severities_with_the_outcomes() -> None:
    """`separating` is 1 exactly for the two councils that fail and 0 for the others, so a
    weighting fitted on the outcomes ranks both failures first in each quarter: AUC 1, though
    the main score manages 0.5. A severity the same for everyone ties everyone: AUC 0.5. The
    targets section states the ceiling and its distance from the best single indicator."""
    watchlist, values = _history()
    options = BacktestOptions(horizons_days=(730,), resamples=0, target_quarters=QUARTER_SPAN)

    def targets(signals: dict[str, list[float]] | None):
        severities = _history_severities(signals) if signals else None
        result = evaluate(
            watchlist, EVENTS, 730, date(2030, 1, 1), values, options, severities
        ).targets
        assert result is not None
        return result

    separating = [1.0 if n in (0, 6) else 0.0 for n in range(len(CODES))]
    rising = [n / len(CODES) for n in range(len(CODES))]  # higher for later codes: misleading
    result = targets({"separating": separating, "rising": rising})
    assert result.hindsight_ceiling == pytest.approx(1.0)
    assert result.main["roc_auc"] == pytest.approx(0.5)
    text = "\n".join(targets_section(result, 730))
    assert "Hindsight ceiling" in text and "ROC AUC 1.000, +0.000 against" in text
    assert targets({"flat": [0.5] * len(CODES)}).hindsight_ceiling == pytest.approx(0.5)
    # Without severities there is no ceiling, and the section does not invent one.
    plain = targets(None)
    assert plain.hindsight_ceiling is None
    assert "Hindsight ceiling" not in "\n".join(targets_section(plain, 730))


def test_report_and_readme_table_are_generated(history_result, tmp_path: Path) -> None:
    report = write_report(history_result, tmp_path, 730, "fictional events")
    text = report.read_text()
    for heading in ("## Headline", "## Targets (issue 12)", "## By council type", "calibration"):
        assert heading in text
    assert (tmp_path / "auc.png").stat().st_size > 0
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nrest\n")
    assert update_readme(readme, tmp_path / "readme_table.md")
    updated = readme.read_text()
    assert "old table" not in updated and "| main score |" in updated
    assert updated.startswith("intro\n") and updated.endswith("rest\n")
    assert not update_readme(readme, tmp_path / "readme_table.md")  # already current


def test_an_unscored_indicator_says_nothing() -> None:
    """Not scored: placed at the quarter's median by evaluate, null here; an event indicator
    with no finding recorded is strength 0; higher-is-better values are turned round."""
    values = pl.DataFrame(
        {
            "quarter": ["q"] * 3,
            "council_code": ["a", "b", "c"],
            "indicator_id": ["x", "x", "e"],
            "method": ["peer", "peer", "event"],
            "polarity": ["higher_is_better", "higher_is_better", "higher_is_worse"],
            "state": ["scored", "no data", "no finding recorded"],
            "value": [2.0, None, None],
        }
    )
    wide = indicator_rankings(values).sort("council_code")
    assert wide.get_column(f"{INDICATOR_PREFIX}x").to_list() == [-2.0, None, None]
    assert wide.get_column(f"{INDICATOR_PREFIX}e").to_list() == [None, None, 0.0]


# --------------------------------------------------------------------------------------------
# Fitted weights: no look-ahead
# --------------------------------------------------------------------------------------------


def _severities(n_councils: int = 40) -> pl.DataFrame:
    """Quarterly severities 2015Q4-2021Q4 for fictional councils: `signal` is 0.9 for councils
    0-5 (which fail) and 0.1 otherwise; `noise` alternates."""
    rows = []
    as_of_dates = [date(year, 12, 31) for year in range(2015, 2022)]
    for as_of in as_of_dates:
        for i in range(n_councils):
            for indicator, severity in (("signal", 0.9 if i < 6 else 0.1), ("noise", i % 2)):
                rows.append(
                    {
                        "quarter": f"{as_of.year}Q4",
                        "as_of_date": as_of,
                        "council_code": f"X{i:03d}",
                        "indicator_id": indicator,
                        "method": "peer",
                        "severity": float(severity),
                    }
                )
    return pl.DataFrame(rows)


FIT_EVENTS = pl.DataFrame(
    {
        "council_code": [f"X{i:03d}" for i in range(6)],
        "event_date": [date(2017, 6, 30)] * 3 + [date(2018, 6, 30)] * 3,
        "event_type": ["section 114 notice"] * 6,
    }
)
OPTIONS = ScoringOptions(weights="fitted", fit_horizon_days=365, fit_min_failures=3)
CATALOGUE_WEIGHTS = {"signal": 1.0, "noise": 1.0}


def test_a_fit_at_d_ignores_events_after_d() -> None:
    as_of = date(2018, 12, 31)
    history = _severities()
    later = pl.DataFrame(
        {
            "council_code": ["X010", "X011", "X012", "X013"],
            "event_date": [
                date(2019, 1, 1),
                date(2019, 6, 30),
                date(2020, 3, 1),
                date(2018, 12, 31),
            ],
            "event_type": ["exceptional financial support"] * 4,
        }
    )
    # X013's event on D itself is known by D, but its horizon from 2017Q4 ends 2018-12-31: it
    # labels 2017Q4 (fully observed). Only strictly later events must not change anything.
    without = fit_weights(
        history, pl.concat([FIT_EVENTS, later.tail(1)]), as_of, CATALOGUE_WEIGHTS, OPTIONS
    )
    with_later = fit_weights(
        history, pl.concat([FIT_EVENTS, later]), as_of, CATALOGUE_WEIGHTS, OPTIONS
    )
    assert without.fitted
    assert with_later.weights == without.weights
    assert with_later.intercept == without.intercept
    assert with_later.training_rows == without.training_rows


def test_only_fully_observed_outcomes_train_the_model() -> None:
    """At D = 2018-12-31 with a one-year horizon, quarters up to 2017Q4 are fully observed
    (2017-12-31 + 365 days = D); 2018Q4 is not, so its councils are not training rows."""
    train = training_set(_severities(), FIT_EVENTS, date(2018, 12, 31), 365, 3)
    assert sorted(train.get_column("quarter").unique().to_list()) == ["2015Q4", "2016Q4", "2017Q4"]
    failed = train.filter(pl.col("failed"))
    # 2016Q4 councils 0-2 fail by 2017-06-30; 2017Q4 councils 3-5 by 2018-06-30. Councils 0-2
    # are known cases in 2017Q4 (an event in the three years before it) and are left out.
    assert sorted(zip(failed["quarter"], failed["council_code"], strict=True)) == [
        ("2016Q4", "X000"),
        ("2016Q4", "X001"),
        ("2016Q4", "X002"),
        ("2017Q4", "X003"),
        ("2017Q4", "X004"),
        ("2017Q4", "X005"),
    ]
    assert train.filter(
        (pl.col("quarter") == "2017Q4") & pl.col("council_code").is_in(["X000"])
    ).is_empty()


def test_too_few_failures_keep_the_catalogue_weights() -> None:
    """By 2017-12-31 the outcomes of 2015Q4 and 2016Q4 are observed: 3 failed councils (the
    2017-06-30 events), enough for min_failures 3, not for 4."""
    fit = fit_weights(_severities(), FIT_EVENTS, date(2017, 12, 31), CATALOGUE_WEIGHTS, OPTIONS)
    assert fit.fitted
    assert fit.training_failed_councils == 3
    strict = ScoringOptions(weights="fitted", fit_horizon_days=365, fit_min_failures=4)
    fit = fit_weights(_severities(), FIT_EVENTS, date(2017, 12, 31), CATALOGUE_WEIGHTS, strict)
    assert not fit.fitted and fit.weights == CATALOGUE_WEIGHTS


def test_the_fit_finds_the_signal_and_keeps_weights_non_negative() -> None:
    fit = fit_weights(_severities(), FIT_EVENTS, date(2019, 12, 31), CATALOGUE_WEIGHTS, OPTIONS)
    assert fit.fitted
    assert fit.weights["signal"] > fit.weights["noise"] >= 0.1  # the floor: 0.1 x 1.0
    # Rescaled to the catalogue's total weight (2), then floored: at most 2 + 0.1.
    assert 2.0 - 1e-9 <= sum(fit.weights.values()) <= 2.1 + 1e-9


def test_logistic_weights_are_bounded_below_by_zero() -> None:
    """A feature that lowers risk would get a negative coefficient unconstrained; here 0."""
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]] * 10)
    y = np.array([True, True, False, False] * 10)  # the first raises risk
    x[:, 1] = 1 - x[:, 0] * 0.5  # the second is higher for the councils that did not fail
    w, _ = fit_logistic(x, y, penalty=0.1)
    assert w[0] > 1.0
    assert w[1] == 0.0


def test_no_quarter_in_the_target_window_leaves_the_targets_unchecked() -> None:
    """A backtest of quarters outside the target window still reports, with no checks."""
    watchlist, values = _history()
    options = BacktestOptions(horizons_days=(730,), target_quarters=("2021Q1", "2021Q4"))
    result = evaluate(watchlist, EVENTS, 730, date(2030, 1, 1), values, options)
    assert result.targets is not None and result.targets.checks == []
    assert result.overall.height > 0


def test_fitted_weights_replace_the_run_quarters_weights_in_the_warehouse() -> None:
    """Through the scores step's own SQL: each run quarter's rows get the weights fitted at its
    as-of date, contribution = weight x severity, and events after that date change nothing."""
    from types import SimpleNamespace

    import duckdb

    from assets.scores import apply_fitted_weights

    history = _severities().with_columns(
        pl.lit("scored").alias("state"),
        pl.lit(1.0).alias("weight"),
        pl.col("severity").alias("contribution"),
    )
    catalogue = SimpleNamespace(
        indicators=pl.DataFrame(
            {"indicator_id": ["signal", "noise"], "method": ["peer", "peer"], "weight": [1.0, 1.0]}
        ),
        scoring=OPTIONS,
    )
    run = pl.DataFrame(
        {"quarter": ["2019Q4", "2020Q4"], "as_of_date": [date(2019, 12, 31), date(2020, 12, 31)]}
    )
    later = pl.DataFrame(
        {
            "council_code": ["X020", "X021"],
            "event_date": [date(2020, 1, 15), date(2020, 2, 1)],
            "event_type": ["section 114 notice"] * 2,
        }
    )

    def weights_after(events: pl.DataFrame) -> pl.DataFrame:
        with duckdb.connect() as connection:
            connection.execute("CREATE SCHEMA scores")
            connection.register("history", history.to_arrow())
            connection.execute("CREATE TABLE scores.indicator_scores AS SELECT * FROM history")
            apply_fitted_weights(connection, run, catalogue, events)
            return pl.from_arrow(
                connection.sql(
                    "SELECT quarter, council_code, indicator_id, severity, weight, contribution "
                    "FROM scores.indicator_scores ORDER BY ALL"
                ).to_arrow_table()
            )

    before = weights_after(FIT_EVENTS)
    expected = fit_weights(history, FIT_EVENTS, date(2019, 12, 31), CATALOGUE_WEIGHTS, OPTIONS)
    q = before.filter(pl.col("quarter") == "2019Q4")
    for indicator, weight in expected.weights.items():
        assert set(q.filter(pl.col("indicator_id") == indicator)["weight"]) == {weight}
    assert (q["contribution"] - q["weight"] * q["severity"]).abs().max() < 1e-12
    # Quarters outside the run keep their weights.
    assert set(before.filter(pl.col("quarter") == "2018Q4")["weight"]) == {1.0}
    # Events after 2019-12-31 may change 2020Q4's fit, never 2019Q4's.
    after = weights_after(pl.concat([FIT_EVENTS, later]))
    assert after.filter(pl.col("quarter") == "2019Q4").equals(q)
