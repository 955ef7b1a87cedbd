"""Scoring (scores.indicator_scores and the published flags and watchlist) against the
catalogue's methods worked by hand on the hand estate (tests/indicator_fixtures.py), plus the
properties an analyst relies on: a worse value never lowers a score, the score is the sum of
its contributions, and the catalogue (not the code) decides weights, thresholds and bands.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from indicator_fixtures import (
    BELOW_LINE_REACH,
    CATALOGUE_YAML,
    DISTRICT_RESERVES,
    DISTRICTS,
    NEIGHBOURS,
    NO_RETURNS,
    Q_AS_OF,
    Q_KEY,
    RESERVES_INDICATORS,
    C,
    D,
    Run,
    assert_watchlist_explained,
    catalogue_document,
    catalogue_entries,
    ct_growth,
    hand_reserves,
    hand_run,
    hand_severity,
    judge_absolute,
    judge_peer,
    read_asc,
    row,
    scored_kinds_applicable,
    scored_values,
    write_hand_estate,
)

CATALOGUE = catalogue_entries()
LATEST = 2  # RS year index of 2017-18, the latest year public at 2019Q1


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = hand_run(tmp_path_factory.mktemp("scoring"))
    assert run.quarter(Q_KEY).success
    return run


@pytest.fixture(scope="module")
def scores(base: Run) -> pl.DataFrame:
    return base.scores()


def hand_values() -> dict[str, dict[str, float]]:
    """Every scored peer/absolute value of the hand districts at 2019Q1, by indicator: the
    reserves from the chosen inputs, council tax growth from the workbook (read in the test)."""
    out: dict[str, dict[str, float]] = {}
    for code in D:
        for indicator, value in hand_reserves(code, LATEST).items():
            assert value is not None
            out.setdefault(indicator, {})[code] = value
    return out


@pytest.fixture(scope="module")
def district_values(base: Run) -> dict[str, dict[str, float]]:
    values = hand_values()
    growth = ct_growth(base.data_dir, Q_AS_OF)
    values["council_tax_receipts_growth"] = {code: growth[code] for code in D}
    return values


def hand_peers(
    code: str, indicator: str, values: dict[str, float], same_type: list[str]
) -> tuple[str, list[float]]:
    """The catalogue's peer rule: published neighbours (itself left out) with a value, or the
    council type when fewer than min_peers of them have one."""
    entry = CATALOGUE[indicator]
    by_type = [values[c] for c in same_type if c != code and c in values]
    if entry["peer_basis"] == "nearest_neighbours":
        neighbours = [values[c] for c in NEIGHBOURS[code] if c != code and c in values]
        if len(neighbours) >= entry["min_peers"]:
            return "nearest neighbours", neighbours
        return "council type (too few neighbours with data)", by_type
    return "council type", by_type


def hand_judgement(
    code: str, indicator: str, values: dict[str, float], scores: pl.DataFrame
) -> dict[str, Any]:
    """`values`: the hand districts' values; `scores`: the quarter's scores, for the counties'
    values that a national percentile also ranks the district against."""
    entry = CATALOGUE[indicator]
    if entry["method"] == "absolute":
        return judge_absolute(values[code], entry["polarity"], entry["threshold"], entry["weight"])
    basis, peers = hand_peers(code, indicator, values, D)
    # Judged against the neighbours and against every other district with data: the worse
    # comparison counts (settings.scoring.compare_with_council_type).
    by_type = [values[c] for c in D if c != code and c in values]
    type_peers = by_type if basis == "nearest neighbours" else None
    # Every other council with a value, any type; the hand districts' own values where known.
    national = [values.get(c, v) for c, v in scored_values(scores, indicator).items() if c != code]
    judged = judge_peer(
        values[code],
        peers,
        entry["polarity"],
        entry["threshold"],
        entry["weight"],
        type_peers,
        national=national,
        min_peers=entry["min_peers"],
    )
    if judged["use_type"]:
        basis = "council type (worse than against its neighbours)"
    return {"peer_basis": basis, **judged}


def assert_scored_as(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["state"] == "scored"
    for key in ("peer_basis", "peer_group_size"):
        if key in expected:
            assert got[key] == expected[key], key
    for key in (
        "peer_median",
        "robust_z",
        "percentile",
        "national_percentile",
        "severity",
        "contribution",
    ):
        if key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9), key
    assert got["flagged"] == expected["flagged"]


# --------------------------------------------------------------------------------------------
# Worked by hand
# --------------------------------------------------------------------------------------------


def test_d1_unallocated_reserves_against_its_nearest_neighbours(scores: pl.DataFrame) -> None:
    """D1's published neighbours are D2..D7 (D8 left out): six peers, at least min_peers 5.
    Their unallocated reserves as % of NRE in 2017-18, and D1's own 300 / 10,200. Against all
    seven other districts (D8's 900 / 10,700 added) it is less far out, so the neighbours'
    comparison is the one that counts."""
    peers = [100 * 1400 / 12200, 100 * 990 / 9200, 100 * 1700 / 15200]
    peers += [100 * 1300 / 11200, 100 * 920 / 8200, 100 * 1380 / 13200]
    value = 100 * 300 / 10200
    median = statistics.median(peers)  # the mean of the 3rd and 4th of six
    mad = statistics.median([abs(p - median) for p in peers])
    scale = max(1.4826 * mad, 0.5 * statistics.stdev(peers))  # the floor: half the SD
    z = (value - median) * -1 / scale  # higher is better: lower is worse
    district_peers = [*peers, 100 * 900 / 10700]
    district_median = statistics.median(district_peers)
    district_mad = statistics.median([abs(p - district_median) for p in district_peers])
    district_scale = max(1.4826 * district_mad, 0.5 * statistics.stdev(district_peers))
    assert (district_median - value) / district_scale < z
    assert z > 2 * 1.5  # far past the threshold of 1.5 MADs: severity is capped at 1
    got = row(scores, council_code=D[0], indicator_id="unallocated_reserves_pct_nre")
    assert_scored_as(
        got,
        {
            "peer_basis": "nearest neighbours",
            "peer_group_size": 6,
            "peer_median": median,
            "robust_z": z,
            "percentile": 100.0,  # worse than all six
            "severity": 1.0,
            "contribution": 3.0 * 1.0,
            "flagged": True,
        },
    )
    assert got["value"] == pytest.approx(value)
    assert got["threshold"] == 1.5
    assert got["weight"] == 3.0


def test_d8_falls_back_to_its_council_type(scores: pl.DataFrame) -> None:
    """D8's list names D6, D7 and the district with no returns: two neighbours with data, fewer
    than min_peers 5, so its peers are the other districts with data, D1..D7."""
    peers = [100 * ua / nre for ua, nre in ((300, 10200), (1400, 12200), (990, 9200))]
    peers += [100 * ua / nre for ua, nre in ((1700, 15200), (1300, 11200), (920, 8200))]
    peers += [100 * 1380 / 13200]
    value = 100 * 900 / 10700
    median = statistics.median(peers)  # the 4th of seven
    mad = statistics.median([abs(p - median) for p in peers])
    z = -(value - median) / max(1.4826 * mad, 0.5 * statistics.stdev(peers))
    got = row(scores, council_code=D[7], indicator_id="unallocated_reserves_pct_nre")
    percentile = 100 * sum(1 for p in peers if value < p) / 7
    # Nationally: the seven other districts and the six counties (their reserves generated by
    # the estate's seed), any type; D8 holds less than most of them.
    others = scored_values(scores, "unallocated_reserves_pct_nre")
    counties = [v for c, v in others.items() if c in C]
    assert len(counties) == 6
    national = [*peers, *counties]
    national_percentile = 100 * sum(1 for p in national if value < p) / 13
    # Continuous below the flag line too: 0.5 at the threshold (1.5 MADs worse than the
    # median), falling linearly to 0 at 1.5 MADs better (below-line reach 1); never below the
    # share of all councils it is worse than.
    peer_severity = (
        min(1.0, 0.5 + 0.5 * (z - 1.5) / 1.5) if z >= 1.5 else max(0.0, 0.5 * (z + 1.5) / 3.0)
    )
    assert national_percentile / 100 > peer_severity  # the national rank is what counts here
    assert_scored_as(
        got,
        {
            "peer_basis": "council type (too few neighbours with data)",
            "peer_group_size": 7,
            "peer_median": median,
            "robust_z": z,
            "percentile": percentile,
            "national_percentile": national_percentile,
            "flagged": z >= 1.5,
            "severity": national_percentile / 100,
            "contribution": 3.0 * national_percentile / 100,
        },
    )


def test_d8_earmarked_two_year_change_below_the_line_still_counts(
    scores: pl.DataFrame,
) -> None:
    """Council type peers (D1..D7). D8's earmarked reserves went 2,450 -> 2,300 over two years
    (-6.1%). Against 1.4826 x MAD alone that was 2.5 MADs worse, past the 2-MAD threshold; but
    D1's -37.5% makes the peers' spread wide, and the scale floor (half the peers' SD) brings
    it to 1.2: not flagged, yet it still counts below the line: severity falls from 0.5 at the
    2-MAD threshold to 0 at 2 MADs better than the median (below-line reach 1), so
    0.5 (z + 2) / 4. A change weighs 0.25 since issue 12."""
    peers = [
        100 * (1500 - 2400) / 2400,
        100 * (3200 - 3100) / 3100,
        100 * (2100 - 2050) / 2050,
        100 * (4100 - 3900) / 3900,
        100 * (2800 - 2700) / 2700,
        100 * (1750 - 1850) / 1850,
        100 * (3600 - 3400) / 3400,
    ]
    value = 100 * (2300 - 2450) / 2450
    median = statistics.median(peers)
    mad = statistics.median([abs(p - median) for p in peers])
    assert -(value - median) / (1.4826 * mad) >= 2.0  # flagged under the MAD scale alone
    assert 0.5 * statistics.stdev(peers) > 1.4826 * mad
    z = -(value - median) / (0.5 * statistics.stdev(peers))
    assert 0.0 < z < 2.0, "below the line but worse than the median"
    assert BELOW_LINE_REACH == 1.0
    got = row(scores, council_code=D[7], indicator_id="earmarked_reserves_change_2y")
    # Never below the share of all other councils (districts and counties) it is worse than.
    others = scored_values(scores, "earmarked_reserves_change_2y")
    national = [*peers, *(v for c, v in others.items() if c in C)]
    assert len(national) == 13
    national_percentile = 100 * sum(1 for p in national if value < p) / 13
    severity = max(0.5 * (z + 2.0) / 4.0, national_percentile / 100)
    worse_than = sum(1 for p in peers if value < p)
    assert_scored_as(
        got,
        {
            "peer_basis": "council type",
            "peer_group_size": 7,
            "peer_median": median,
            "robust_z": z,
            "percentile": 100 * worse_than / 7,
            "flagged": False,
            "severity": severity,
            "contribution": 0.25 * severity,  # weight 0.25
        },
    )


def test_d1_years_of_reserves_left_absolute(scores: pl.DataFrame) -> None:
    # 2.25 years left against a threshold of 4 (higher is better): 1.75 past it, so severity
    # 0.5 + 0.5 * 1.75 / 4 = 0.71875 and contribution 2 * 0.71875.
    got = row(scores, council_code=D[0], indicator_id="years_of_reserves_left")
    assert got["value"] == pytest.approx(2.25)
    assert got["flagged"]
    assert got["severity"] == pytest.approx(0.71875)
    assert got["contribution"] == pytest.approx(1.4375)
    assert got["peer_median"] is None and got["robust_z"] is None


def test_every_district_indicator_by_hand(
    scores: pl.DataFrame, district_values: dict[str, dict[str, float]]
) -> None:
    checked = 0
    for indicator, values in district_values.items():
        for code in D:
            got = row(scores, council_code=code, indicator_id=indicator)
            assert got["value"] == pytest.approx(values[code])
            assert_scored_as(got, hand_judgement(code, indicator, values, scores))
            checked += 1
    assert checked == 8 * len(district_values)


def test_d1_risk_score_is_the_hand_sum(
    base: Run, scores: pl.DataFrame, district_values: dict[str, dict[str, float]]
) -> None:
    """D1 has no audit or peer-challenge evidence: its score is the sum of its reserves and
    council tax contributions; the baseline is the reserves part."""
    contributions = {
        indicator: hand_judgement(D[0], indicator, values, scores)["contribution"]
        for indicator, values in district_values.items()
    }
    reserves = sum(contributions[i] for i in RESERVES_INDICATORS)
    d1 = row(base.watchlist(), council_code=D[0])
    assert d1["risk_score"] == pytest.approx(sum(contributions.values()))
    assert d1["baseline_score"] == pytest.approx(reserves)
    # Flagged, with a score between the elevated (8.5) and high (13) cut-offs.
    assert 8.5 <= sum(contributions.values()) < 13.0
    assert d1["risk_band"] == "elevated"
    assert d1["rank"] == 1
    assert d1["n_flags"] == sum(
        1
        for indicator, values in district_values.items()
        if hand_judgement(D[0], indicator, values, scores)["flagged"]
    )
    # Coverage: the reserves and council tax indicators applicable to a district are scored;
    # the peer-challenge, debt and service ones have no data.
    applicable = scored_kinds_applicable("district")
    assert d1["n_indicators_applicable"] == applicable
    assert d1["coverage"] == pytest.approx(len(district_values) / applicable)


def test_county_asc_metric_by_hand(base: Run, scores: pl.DataFrame) -> None:
    """Carer quality of life (ASC1, higher is better) for each county against the other five
    counties (their published list), from the generated CSV's 2017-18 values."""
    asc1 = {
        code: v for (code, year), v in read_asc(base.data_dir, "ASC1").items() if year == "2017-18"
    }
    entry = CATALOGUE["asc_carer_quality_of_life"]
    for code in C:
        peers = [asc1[c] for c in C if c != code]
        # Nationally: every other council with a value, here the other five counties.
        national = [v for c, v in scored_values(scores, "asc_carer_quality_of_life").items()]
        assert sorted(national) == sorted([*peers, asc1[code]])
        expected = judge_peer(
            asc1[code],
            peers,
            "higher_is_better",
            entry["threshold"],
            0.5,
            national=peers,
            min_peers=entry["min_peers"],
        )
        got = row(scores, council_code=code, indicator_id="asc_carer_quality_of_life")
        assert_scored_as(got, {"peer_basis": "nearest neighbours", **expected})


def test_missing_and_not_applicable_evidence_is_a_state_not_a_number(
    scores: pl.DataFrame,
) -> None:
    no_returns = scores.filter(pl.col("council_code") == NO_RETURNS.gss_code)
    judged = no_returns.filter(pl.col("method").is_in(["peer", "absolute"]))
    assert set(judged.get_column("state")) == {"no data"}
    assert judged.get_column("value").is_null().all()
    assert (no_returns.get_column("contribution") == 0).all()
    # Not applicable: no row at all (districts: adult social care; counties: council tax).
    districts = scores.filter(pl.col("council_code").is_in(D))
    assert not districts.get_column("indicator_id").str.starts_with("asc_").any()
    counties = scores.filter(pl.col("council_code").is_in(C))
    assert "council_tax_receipts_growth" not in counties.get_column("indicator_id").to_list()
    # Every applicable catalogue indicator has exactly one row per council.
    for code, kind in [(D[0], "district"), (C[0], "county"), (NO_RETURNS.gss_code, "district")]:
        expected = {i for i, e in CATALOGUE.items() if kind in e["applies_to"]}
        got = scores.filter(pl.col("council_code") == code).get_column("indicator_id")
        assert sorted(got.to_list()) == sorted(expected)


# --------------------------------------------------------------------------------------------
# The score is the sum of the contributions in the published flags
# --------------------------------------------------------------------------------------------


def test_score_is_the_sum_of_contributions_in_the_flags_file(base: Run) -> None:
    watchlist, flags = base.watchlist(), base.flags()
    assert watchlist.height == len(D) + len(C) + 1
    assert assert_watchlist_explained(watchlist, flags) == watchlist.height


# --------------------------------------------------------------------------------------------
# A worse value never lowers a council's score
# --------------------------------------------------------------------------------------------

# Each lever makes one input of one council worse in the validated layer (the input of the
# quarterly assets) by a factor f in (0, 1); the council is left out of its own peer group, so
# its score may only rise.
LEVERS: dict[str, tuple[str, list[str], list[str]]] = {
    "unallocated reserves at 31 March 2018 cut": (
        "UPDATE validated.revenue_outturn SET unallocated_reserves_end = "
        "unallocated_reserves_end * $f WHERE council_code = $c AND period = '2017-18'",
        [*D, *C],
        ["unallocated_reserves_pct_nre", "unallocated_reserves_change_1y"],
    ),
    "earmarked reserves at 31 March 2018 cut": (
        "UPDATE validated.revenue_outturn SET earmarked_reserves_end = "
        "earmarked_reserves_end * $f WHERE council_code = $c AND period = '2017-18'",
        [*D, *C],
        ["earmarked_reserves_pct_nre", "earmarked_reserves_change_2y"],
    ),
    "net revenue expenditure 2017-18 up": (
        "UPDATE validated.revenue_outturn SET net_revenue_expenditure = "
        "net_revenue_expenditure / $f WHERE council_code = $c AND period = '2017-18'",
        [*D, *C],
        ["unallocated_reserves_pct_nre", "earmarked_reserves_pct_nre"],
    ),
    "unallocated reserves at 1 April 2017 up (more drawn in the year)": (
        "UPDATE validated.revenue_outturn SET unallocated_reserves_start = "
        "unallocated_reserves_start / $f WHERE council_code = $c AND period = '2017-18'",
        [*D, *C],
        ["years_of_reserves_left"],
    ),
    "council tax receipts October to December 2018 cut": (
        "UPDATE validated.council_tax_receipts SET receipts = receipts * $f "
        "WHERE council_code = $c AND quarter_start = DATE '2018-10-01'",
        D,
        ["council_tax_receipts_growth"],
    ),
    "carer quality of life 2017-18 down (higher is better)": (
        "UPDATE validated.data_explorer_metrics SET value = value * $f "
        "WHERE council_code = $c AND metric_id = 'ASC1' AND financial_year = '2017-18'",
        C,
        ["asc_carer_quality_of_life"],
    ),
    "workforce turnover 2017-18 up (higher is worse)": (
        "UPDATE validated.data_explorer_metrics SET value = value / $f "
        "WHERE council_code = $c AND metric_id = 'ASC7' AND financial_year = '2017-18'",
        C,
        ["asc_workforce_turnover"],
    ),
}


def worse(indicator: str, before: float, after: float) -> bool:
    sign = 1 if CATALOGUE[indicator].get("polarity") == "higher_is_worse" else -1
    return (after - before) * sign > 0


@st.composite
def worsenings(draw: st.DrawFn) -> tuple[str, str, float]:
    lever = draw(st.sampled_from(sorted(LEVERS)))
    council = draw(st.sampled_from(LEVERS[lever][1]))
    factor = draw(st.floats(min_value=0.05, max_value=0.95))
    return lever, council, factor


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(change=worsenings())
@example(change=("council tax receipts October to December 2018 cut", D[2], 0.5))
@example(change=("workforce turnover 2017-18 up (higher is worse)", C[1], 0.6))
@example(change=("unallocated reserves at 31 March 2018 cut", D[7], 0.3))
@example(change=("unallocated reserves at 1 April 2017 up (more drawn in the year)", D[3], 0.2))
def test_a_worse_value_never_lowers_the_score(
    base: Run, scores: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory, change: tuple
) -> None:
    lever, council, factor = change
    sql, _, indicators = LEVERS[lever]
    run = base.copy(tmp_path_factory.mktemp("worse"))
    run.execute(sql, {"f": factor, "c": council})
    assert run.quarter(Q_KEY).success
    after = run.scores()
    for indicator in indicators:
        old = row(scores, council_code=council, indicator_id=indicator)
        new = row(after, council_code=council, indicator_id=indicator)
        assert worse(indicator, old["value"], new["value"]), (indicator, old, new)
        assert new["contribution"] >= old["contribution"] - 1e-12, (indicator, old, new)
    assert run.score_of(council) >= base.score_of(council) - 1e-12


def test_a_worse_source_figure_never_lowers_the_score_end_to_end(
    base: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same through the source file: D5 reports 40% of its unallocated reserves at
    31 March 2018 in the 2017-18 workbook, which is re-ingested."""
    run = base.copy(tmp_path_factory.mktemp("worse_file"), copy_data=True)
    reserves = {code: {k: list(v) for k, v in r.items()} for code, r in DISTRICT_RESERVES.items()}
    reserves[D[4]]["ua"][3] = 1300 * 0.4
    write_hand_estate(run.data_dir, reserves)
    keys = [["raw", "revenue_outturn"], ["validated", "revenue_outturn"]]
    assert run.ingest(selection=dg.AssetSelection.assets(*keys)).success
    assert run.quarter(Q_KEY).success
    got = row(run.values(), council_code=D[4], indicator_id="unallocated_reserves_pct_nre")
    assert got["value"] == pytest.approx(100 * 520 / 11200)
    assert run.score_of(D[4]) > base.score_of(D[4])


# --------------------------------------------------------------------------------------------
# An analyst's catalogue edit changes the scores, with no code change
# --------------------------------------------------------------------------------------------


def edited_catalogue(tmp_path: Path, edit: Any) -> tuple[Path, dict]:
    document = yaml.safe_load(CATALOGUE_YAML.read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "what_if_catalogue.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path, document


def what_if_run(
    base: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any
) -> tuple[Run, dict]:
    """The base estate rebuilt for the quarter under an analyst's edited copy of the
    catalogue (named by EARLY_WARNING_INDICATOR_CATALOGUE, as an analyst would)."""
    path, document = edited_catalogue(tmp_path, edit)
    monkeypatch.setenv("EARLY_WARNING_INDICATOR_CATALOGUE", str(path))
    run = base.copy(tmp_path / "what_if")
    assert run.quarter(Q_KEY).success
    return run, document


def _set(document: dict, indicator: str, **fields: float) -> None:
    for entry in document["indicators"]:
        if entry["id"] == indicator:
            entry.update(fields)


def test_weight_and_threshold_from_a_copy_of_the_catalogue(
    base: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An analyst's what-if copy: double the weight of unallocated reserves % NRE (3 -> 6),
    lower the years-left threshold (absolute, 4 -> 2) and the two-year unallocated change
    threshold (peer, 2 -> 0.8 MAD). Every contribution follows by hand from the first build's
    values and robust z-scores (which do not depend on weights or thresholds)."""
    changed = {
        "unallocated_reserves_pct_nre": {"weight": 6.0},
        "years_of_reserves_left": {"threshold": 2.0},
        "unallocated_reserves_change_2y": {"threshold": 0.8},
    }

    def edit(document: dict) -> None:
        for indicator, fields in changed.items():
            _set(document, indicator, **fields)

    run, document = what_if_run(base, tmp_path, monkeypatch, edit)

    old_flags, new_flags = base.flags(), run.flags()
    newly_flagged = 0
    for code in [*D, *C]:
        old = {
            r["indicator_id"]: r
            for r in old_flags.filter(pl.col("council_code") == code).iter_rows(named=True)
        }
        new = {
            r["indicator_id"]: r
            for r in new_flags.filter(pl.col("council_code") == code).iter_rows(named=True)
        }
        expected_score = 0.0
        for indicator, before in old.items():
            after = new[indicator]
            entry = {**CATALOGUE[indicator], **changed.get(indicator, {})}
            assert after["weight"] == float(entry.get("weight", 0))
            assert after["threshold"] == float(entry.get("threshold", 0))
            if indicator not in changed or before["state"] != "scored":
                expected = before["contribution"]
            elif entry["method"] == "absolute":
                judged = judge_absolute(
                    before["value"], entry["polarity"], entry["threshold"], entry["weight"]
                )
                expected = judged["contribution"]
            else:  # peer: same robust z and national percentile, new threshold and weight
                z, threshold = before["robust_z"], entry["threshold"]
                if z >= threshold:
                    severity = min(1.0, 0.5 + 0.5 * (z - threshold) / threshold)
                else:  # 0 at `threshold` MADs better than the median (below-line reach 1)
                    severity = max(0.0, 0.5 * (z + threshold) / (2 * threshold))
                severity = max(severity, before["national_percentile"] / 100)
                expected = entry["weight"] * severity
                newly_flagged += after["flagged"] and not before["flagged"]
            assert after["contribution"] == pytest.approx(expected), (code, indicator)
            expected_score += expected
        assert run.score_of(code) == pytest.approx(expected_score), code
    assert newly_flagged >= 1, "the lower peer threshold flags someone new"
    # By hand for D1: +3 (pct contribution 3 -> 6); 2.25 years is no longer past the threshold
    # of 2 but 0.25 short of it: severity 0.5 + 0.5 x (-0.25) / 2 = 0.4375 instead of 0.71875,
    # so 2 x (0.4375 - 0.71875) = -0.5625; its two-year change was already capped at 1.
    assert run.score_of(D[0]) == pytest.approx(base.score_of(D[0]) + 3.0 - 0.5625)
    assert not row(new_flags, council_code=D[0], indicator_id="years_of_reserves_left")["flagged"]
    # D8's two-year fall of 10% against D1..D7's changes (median +1.02%; half their SD, 12.80,
    # exceeds 1.4826 x MAD, 7.47): z = 11.02 / 12.80 = 0.86, now past a 0.8 threshold.
    d8 = row(new_flags, council_code=D[7], indicator_id="unallocated_reserves_change_2y")
    assert d8["robust_z"] == pytest.approx(0.8606, abs=1e-4)
    assert (
        d8["flagged"]
        and not row(old_flags, council_code=D[7], indicator_id="unallocated_reserves_change_2y")[
            "flagged"
        ]
    )
    assert_watchlist_explained(run.watchlist(), new_flags, document)
    # The catalogue is part of the inputs' fingerprint.
    assert run.watchlist().get_column("inputs_sha256").unique().to_list() != (
        base.watchlist().get_column("inputs_sha256").unique().to_list()
    )


def test_bands_from_a_copy_of_the_catalogue(
    base: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def edit(document: dict) -> None:
        document["settings"]["bands"][0]["min_score"] = 8.0  # high (13 in the catalogue)
        document["settings"]["bands"][1]["min_score"] = 4.0  # elevated (8.5)

    run, document = what_if_run(base, tmp_path, monkeypatch, edit)
    new = run.watchlist()
    old = base.watchlist().select("council_code", pl.col("risk_score").alias("old"))
    assert new.join(old, on="council_code").select(
        (pl.col("risk_score") - pl.col("old")).abs().max()
    ).item() == pytest.approx(0.0)
    d1_score = row(base.watchlist(), council_code=D[0])["risk_score"]
    assert 8.0 <= d1_score < 13.0
    assert row(base.watchlist(), council_code=D[0])["risk_band"] == "elevated"
    assert row(new, council_code=D[0])["risk_band"] == "high"
    assert_watchlist_explained(new, run.flags(), document)


def test_below_line_reach_from_a_copy_of_the_catalogue(
    base: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.scoring.below_line_reach_thresholds 0: a peer severity below the line falls to
    0 at the peer median itself (0.5 z / threshold), as before issue 12; with the shipped reach
    of 1 it falls to 0 one threshold on the good side (0.5 (z + t) / 2t). Flags, and severities
    past the line, do not move; the score stays the sum of the contributions."""

    def edit(document: dict) -> None:
        document["settings"]["scoring"]["below_line_reach_thresholds"] = 0.0

    run, document = what_if_run(base, tmp_path, monkeypatch, edit)
    old = base.flags().filter((pl.col("method") == "peer") & (pl.col("state") == "scored"))
    new = run.flags()
    below_median = between = 0
    for before in old.iter_rows(named=True):
        after = row(new, council_code=before["council_code"], indicator_id=before["indicator_id"])
        z, t = before["robust_z"], before["threshold"]
        assert after["robust_z"] == pytest.approx(z)
        assert after["flagged"] == before["flagged"] == (z >= t)
        if z >= t:
            assert after["severity"] == pytest.approx(before["severity"])
            continue
        national = before["national_percentile"] / 100  # a floor either way
        assert after["national_percentile"] == pytest.approx(before["national_percentile"])
        assert before["severity"] == pytest.approx(max(0.0, 0.5 * (z + t) / (2 * t), national))
        assert after["severity"] == pytest.approx(max(0.0, 0.5 * z / t, national))
        below_median += z < 0
        between += z > 0
    assert below_median and between, "the fixture has values on both sides of the median"
    for code in D:
        assert run.score_of(code) == pytest.approx(
            new.filter(pl.col("council_code") == code).get_column("contribution").sum()
        )
    assert_watchlist_explained(run.watchlist(), new, document)


def test_national_percentile_floor_from_a_copy_of_the_catalogue(
    base: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.scoring.severity_at_least_national_percentile false: every peer severity is
    the peer comparison's alone (still reported beside its national percentile); with the
    shipped true it is the larger of the two. Flags do not move; where the national rank was
    the larger, the score falls by exactly weight x the difference."""

    def edit(document: dict) -> None:
        document["settings"]["scoring"]["severity_at_least_national_percentile"] = False

    run, document = what_if_run(base, tmp_path, monkeypatch, edit)
    old = base.flags().filter((pl.col("method") == "peer") & (pl.col("state") == "scored"))
    new = run.flags()
    lifted = 0
    for before in old.iter_rows(named=True):
        after = row(new, council_code=before["council_code"], indicator_id=before["indicator_id"])
        z, t = before["robust_z"], before["threshold"]
        peer_only = hand_severity(z - t, t, BELOW_LINE_REACH)
        assert after["flagged"] == before["flagged"] == (z >= t)
        assert after["national_percentile"] == pytest.approx(before["national_percentile"])
        assert after["severity"] == pytest.approx(peer_only)
        assert before["severity"] == pytest.approx(
            max(peer_only, before["national_percentile"] / 100)
        )
        lifted += before["national_percentile"] / 100 > peer_only + 1e-9
    assert lifted, "the hand estate has values whose national rank lifts their severity"
    for code in [*D, *C]:
        drop = sum(
            r["weight"]
            * (
                r["severity"]
                - hand_severity(r["robust_z"] - r["threshold"], r["threshold"], BELOW_LINE_REACH)
            )
            for r in old.filter(pl.col("council_code") == code).iter_rows(named=True)
        )
        assert run.score_of(code) == pytest.approx(base.score_of(code) - drop), code
    assert_watchlist_explained(run.watchlist(), new, document)


def test_the_published_catalogue_is_used_when_no_copy_is_named(
    base: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EARLY_WARNING_INDICATOR_CATALOGUE", raising=False)
    flags = base.flags()
    for indicator, entry in catalogue_entries().items():
        chosen = flags.filter(pl.col("indicator_id") == indicator)
        if chosen.height:
            assert set(chosen.get_column("weight")) == {float(entry.get("weight", 0))}
            assert set(chosen.get_column("threshold")) == {float(entry.get("threshold", 0))}
    assert catalogue_document()["settings"]["bands"][0] == {"band": "high", "min_score": 13.0}


# --------------------------------------------------------------------------------------------
# An abolished neighbour stands for its successor
# --------------------------------------------------------------------------------------------


def test_an_abolished_neighbour_is_resolved_to_its_successor(
    base: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """D3 is abolished on 2018-03-31 and replaced by D8 (register `end-date`, `replaced-by`).
    D1's published list names D3, not D8: in 2018Q1 (as of 2018-03-31) D3 is still in being and
    a neighbour itself; by 2019Q1 its place is taken by D8, so D1's neighbours with data are
    D2, D4, D5, D6, D7 and D8."""
    run = base.copy(tmp_path_factory.mktemp("abolished"), copy_data=True)
    register = run.data_dir / "sources" / "mysociety_la_codes" / "uk_local_authorities_current.csv"
    with register.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    d3 = next(r for r in rows if r[header.index("gss-code")] == D[2])
    d3[header.index("end-date")] = "2018-03-31"
    d3[header.index("replaced-by")] = DISTRICTS[7].register_code
    d3[header.index("current-authority")] = "False"
    with register.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    assert run.ingest().success
    assert run.quarters("2018-01-01", "2019-01-01").success

    watchlist = run.frame("SELECT quarter, council_code FROM watchlist.watchlist")
    assert D[2] in watchlist.filter(pl.col("quarter") == "2018Q1").get_column("council_code")
    assert D[2] not in watchlist.filter(pl.col("quarter") == "2019Q1").get_column("council_code")

    # 2019Q1: the 2017-18 figures, D1's peers D2, D4..D8 (D3 -> D8).
    pct = hand_values()["unallocated_reserves_pct_nre"]
    peers = [pct[c] for c in (D[1], D[3], D[4], D[5], D[6], D[7])]
    scores_2019 = run.scores("2019Q1")
    got = row(scores_2019, council_code=D[0], indicator_id="unallocated_reserves_pct_nre")
    assert got["peer_basis"] == "nearest neighbours"
    assert got["peer_group_size"] == 6
    entry = CATALOGUE["unallocated_reserves_pct_nre"]
    in_being = scored_values(scores_2019, "unallocated_reserves_pct_nre")
    assert D[2] not in in_being and len(in_being) == 13  # D1, 6 other districts, 6 counties
    expected = judge_peer(
        pct[D[0]],
        peers,
        "higher_is_better",
        entry["threshold"],
        3.0,
        national=[pct.get(c, v) for c, v in in_being.items() if c != D[0]],
        min_peers=entry["min_peers"],
    )
    assert_scored_as(got, expected)
    # Without the successor D1 would have five neighbours with data (D3 is not in being); the
    # robust median and MAD happen to be the same with D8 in D3's place (the middle values and
    # middle deviations are unchanged), which is what robust statistics are for.

    # 2018Q1 (as of 2018-03-31): 2016-17 is the latest year public; D3 is its own neighbour.
    old = {code: hand_reserves(code, 1)["unallocated_reserves_pct_nre"] for code in D}
    peers_2018 = [old[c] for c in D[1:7]]
    got = row(run.scores("2018Q1"), council_code=D[0], indicator_id="unallocated_reserves_pct_nre")
    assert got["peer_group_size"] == 6
    assert got["peer_median"] == pytest.approx(statistics.median(peers_2018))
