"""Debt and total-reserves indicators on the hand estate (tests/indicator_fixtures.py), with
fictional finance-metrics rows and core spending power chosen here, so every expected value
is worked out by hand from these inputs.

D1 borrows heavily for a commercial portfolio; D2..D7 hold modest, steady debt; D8 reports a
negative net revenue expenditure in 2019-20 (a commercial district's income nets off its
spending). D2 also has a fictional 2017-18 row, to show which source wins when two report the
same council and year.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from indicator_fixtures import (
    NEIGHBOURS,
    Run,
    catalogue_entries,
    hand_estate,
    judge_peer,
    row,
    write_hand_estate,
)

from pipelines.synthetic import write_core_spending_power, write_la_finance_metrics

# Three quarters materialised on a fresh estate: about 40 s on a quiet 2-core machine.
pytestmark = pytest.mark.slow

D = [c.gss_code for c in hand_estate().councils if c.gss_code.startswith("E07")]
CATALOGUE = catalogue_entries()
LAG = timedelta(days=270)


def _year(nre: float, borrowing: float, **more: float) -> dict[str, float]:
    values = {
        "NRE": nre,
        "Gross Borrowing": borrowing,
        "Reserves": 3000.0,
        "CFR": borrowing * 1.1,
        "MRP": 200.0,
        "Interest": 150.0,
        "Investments": 1000.0,
        "Short Term Loans": 0.0,
    }
    return {**values, **more}


# £000. 2018-19 and 2019-20 for every district.
FINANCE = {
    D[0]: {
        "2018-19": _year(10000, 50000),
        "2019-20": _year(
            10000, 200000, CFR=210000, MRP=3000, Interest=4000, **{"Short Term Loans": 60000}
        ),
    },
    D[1]: {
        "2017-18": _year(12000, 6000, Reserves=9999),
        "2018-19": _year(12000, 6000),
        "2019-20": _year(12100, 6200),
    },
    D[2]: {"2018-19": _year(9000, 5000), "2019-20": _year(9100, 5100)},
    D[3]: {"2018-19": _year(15000, 8000), "2019-20": _year(15200, 8400)},
    D[4]: {"2018-19": _year(11000, 5500), "2019-20": _year(11100, 5800)},
    D[5]: {"2018-19": _year(8000, 4500), "2019-20": _year(8100, 4400)},
    D[6]: {"2018-19": _year(13000, 7000), "2019-20": _year(13100, 7300)},
    D[7]: {"2018-19": _year(10500, 6000), "2019-20": _year(-500, 6100)},
}
# Core spending power, £ million, 2019-20.
SPENDING_POWER = {code: {2019: 20.0} for code in D}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root: Path = tmp_path_factory.mktemp("finance_indicators")
    run = Run(root=root, data_dir=root / "data")
    write_hand_estate(run.data_dir)
    sources = run.data_dir / "sources"
    write_la_finance_metrics(
        sources / "la_finance_metrics" / "la-metrics-data.json", hand_estate(), FINANCE
    )
    write_core_spending_power(
        sources / "core_spending_power" / "CSP_long_201520.csv", hand_estate(), SPENDING_POWER
    )
    assert run.ingest().success
    for key in ("2018-10-01", "2020-07-01", "2021-01-01"):
        assert run.quarter(key).success
    return run


def _peers(code: str, values: dict[str, float | None], basis: str) -> list[float]:
    """The catalogue's peer rule for these districts: published neighbours (itself left out)
    with a value; all districts when fewer than five have one, or when the basis is type."""
    if basis == "nearest_neighbours":
        near = [values[c] for c in NEIGHBOURS[code] if c != code and values.get(c) is not None]
        if len(near) >= 5:
            return [float(v) for v in near]
    return [float(v) for c, v in values.items() if c != code and v is not None]


def test_borrowing_to_spending_by_hand_and_flagged(run: Run) -> None:
    values = {
        c: 100 * y["2019-20"]["Gross Borrowing"] / y["2019-20"]["NRE"] for c, y in FINANCE.items()
    }
    values[D[7]] = None  # NRE is negative: no ratio
    entry = CATALOGUE["external_borrowing_pct_nre"]
    scores = run.scores("2021Q1")
    got = row(scores, council_code=D[0], indicator_id="external_borrowing_pct_nre")
    assert got["value"] == pytest.approx(2000.0)
    assert got["period"] == "2019-20"
    assert got["published_date"] == date(2020, 3, 31) + LAG
    assert got["source_path"] == "sources/la_finance_metrics/la-metrics-data.json"
    expected = judge_peer(
        2000.0,
        _peers(D[0], values, entry["peer_basis"]),
        entry["polarity"],
        entry["threshold"],
        entry["weight"],
    )
    assert got["flagged"] and expected["flagged"]
    assert got["robust_z"] == pytest.approx(expected["robust_z"])
    assert got["contribution"] == pytest.approx(expected["contribution"])


def test_a_negative_spending_figure_is_not_computable_never_a_ratio(run: Run) -> None:
    scores = run.scores("2021Q1")
    for indicator in ("external_borrowing_pct_nre", "cfr_pct_nre", "debt_servicing_pct_nre"):
        got = row(scores, council_code=D[7], indicator_id=indicator)
        assert got["value"] is None
        assert got["state"] == "not computable (spending not positive or under £1m)"
        assert not got["flagged"]


def test_growth_is_in_points_of_spending(run: Run) -> None:
    values = run.values("2021Q1")
    got = row(values, council_code=D[0], indicator_id="borrowing_growth_1y_pts_nre")
    assert got["value"] == pytest.approx(100 * (200000 - 50000) / 10000)
    # Three years back (2016-17) there is no borrowing figure: not computable.
    got = row(values, council_code=D[0], indicator_id="borrowing_growth_3y_pts_nre")
    assert got["value"] is None
    assert got["value_state"] == "not computable (missing or zero base)"


def test_servicing_spending_power_and_short_term_share_by_hand(run: Run) -> None:
    values = run.values("2021Q1")
    servicing = row(values, council_code=D[0], indicator_id="debt_servicing_pct_nre")
    assert servicing["value"] == pytest.approx(100 * (3000 + 4000) / 10000)
    csp = row(values, council_code=D[0], indicator_id="external_borrowing_pct_csp")
    assert csp["value"] == pytest.approx(100 * 200000 / (20.0 * 1000))
    share = row(values, council_code=D[0], indicator_id="short_term_borrowing_share")
    assert share["value"] == pytest.approx(100 * 60000 / 200000)
    context = row(values, council_code=D[0], indicator_id="investments_to_borrowing")
    assert context["value"] == pytest.approx(1000 / 200000)


def test_figures_are_used_only_once_public(run: Run) -> None:
    """On 30 September 2020 the 2019-20 figures (public 26 December 2020) were not yet out:
    the indicator stands on 2018-19."""
    got = row(run.values("2020Q3"), council_code=D[0], indicator_id="external_borrowing_pct_nre")
    assert got["period"] == "2018-19"
    assert got["value"] == pytest.approx(100 * 50000 / 10000)
    assert got["published_date"] == date(2019, 3, 31) + LAG


def test_the_newer_source_wins_where_both_report_a_year(run: Run) -> None:
    """2018Q4: the hand RS workbook (2017-18) and D2's fictional 2017-18 finance row are both
    public; total usable reserves come from the finance row. D3 has only the workbook."""
    values = run.values("2018Q4")
    d2 = row(values, council_code=D[1], indicator_id="usable_reserves_pct_nre")
    assert d2["period"] == "2017-18"
    assert d2["value"] == pytest.approx(100 * 9999 / 12000)
    assert d2["source_path"] == "sources/la_finance_metrics/la-metrics-data.json"
    d3 = row(values, council_code=D[2], indicator_id="usable_reserves_pct_nre")
    assert d3["source_path"].startswith("sources/bbc_council_reserves/")


def test_the_reserves_split_stays_on_the_outturn_years(run: Run) -> None:
    """The finance rows give only a total: unallocated reserves still come from 2017-18."""
    got = row(run.values("2021Q1"), council_code=D[0], indicator_id="unallocated_reserves_pct_nre")
    assert got["period"] == "2017-18"
    total = row(run.values("2021Q1"), council_code=D[0], indicator_id="usable_reserves_pct_nre")
    assert total["period"] == "2019-20"
    assert total["value"] == pytest.approx(100 * 3000 / 10000)


def test_debt_flags_name_their_family_in_the_watchlist(run: Run) -> None:
    d1 = row(run.watchlist("2021Q1"), council_code=D[0])
    assert "debt" in d1["flagged_families"]
    flags = run.flags("2021Q1").filter(
        (pl.col("council_code") == D[0]) & pl.col("flagged") & (pl.col("family") == "debt")
    )
    assert flags.height >= 1
    assert set(flags.get_column("source_path")) == {
        "sources/la_finance_metrics/la-metrics-data.json"
    }
