"""Indicator values (indicators.indicator_values) against numbers worked out by hand from the
fictional hand estate's chosen inputs (tests/indicator_fixtures.py) and from the generated
source files read back here, point in time.

Publication rules used for the expectations (sources.yaml): a Revenue Outturn year is public
230 days after its 31 March, a Data Explorer year 240 days after, a council tax quarter 80 days
after it ends.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from indicator_fixtures import (
    ASC_CSV,
    CT_XLSX,
    NO_RETURNS,
    C,
    D,
    Run,
    ct_windows,
    hand_reserves,
    hand_run,
    read_asc,
    read_ct_workbook,
    row,
)

# One single-run backfill covers these three quarters.
QUARTERS = {"2018Q3": date(2018, 9, 30), "2018Q4": date(2018, 12, 31), "2019Q1": date(2019, 3, 31)}
RS_PUBLIC = {
    "2015-16": date(2016, 3, 31) + timedelta(days=230),
    "2016-17": date(2017, 3, 31) + timedelta(days=230),
    "2017-18": date(2018, 3, 31) + timedelta(days=230),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = hand_run(tmp_path_factory.mktemp("indicators"))
    result = run.quarters("2018-07-01", "2019-01-01")
    assert result.success
    return run


@pytest.fixture(scope="module")
def values(run: Run) -> pl.DataFrame:
    return run.frame("SELECT * FROM indicators.indicator_values")


def value_of(values: pl.DataFrame, quarter: str, council: str, indicator: str) -> dict:
    return row(values, quarter=quarter, council_code=council, indicator_id=indicator)


# --------------------------------------------------------------------------------------------
# Reserves (Revenue Outturn)
# --------------------------------------------------------------------------------------------


def test_publication_dates_follow_the_lag() -> None:
    # The arithmetic the rest of the module relies on, spelt out.
    assert RS_PUBLIC["2017-18"] == date(2018, 11, 16)
    assert RS_PUBLIC["2016-17"] == date(2017, 11, 16)


def test_d1_reserves_by_hand(values: pl.DataFrame) -> None:
    """D1 in 2019Q1: 2017-18 is the latest year public (since 2018-11-16). Its chosen figures:
    NRE 10,200 (2016-17: 10,100); unallocated 800 -> 600 -> 300 at 31 March 2016/17/18;
    earmarked 2,400 -> 2,000 -> 1,500; 2017-18 opened with 600 + 2,000 usable."""
    q, d1 = "2019Q1", D[0]
    pct = value_of(values, q, d1, "unallocated_reserves_pct_nre")
    assert pct["value"] == pytest.approx(100 * 300 / 10200)
    assert pct["previous_value"] == pytest.approx(100 * 600 / 10100)
    assert pct["period"] == "2017-18"
    assert pct["period_end"] == date(2018, 3, 31)
    assert pct["published_date"] == date(2018, 11, 16)
    assert pct["value_state"] == "reported"
    assert pct["source_path"] == "sources/bbc_council_reserves/RS_2017-18_data_by_LA_PRENOV.xlsx"
    # D1 is the first council written: the row after the header row (7) is spreadsheet row 8.
    assert pct["source_row_number"] == 8

    assert value_of(values, q, d1, "earmarked_reserves_pct_nre")["value"] == pytest.approx(
        100 * 1500 / 10200
    )
    assert value_of(values, q, d1, "unallocated_reserves_change_1y")["value"] == pytest.approx(
        100 * (300 - 600) / 600  # -50 %
    )
    assert value_of(values, q, d1, "unallocated_reserves_change_2y")["value"] == pytest.approx(
        100 * (300 - 800) / 800  # -62.5 %
    )
    assert value_of(values, q, d1, "earmarked_reserves_change_1y")["value"] == pytest.approx(
        100 * (1500 - 2000) / 2000  # -25 %
    )
    assert value_of(values, q, d1, "earmarked_reserves_change_2y")["value"] == pytest.approx(
        100 * (1500 - 2400) / 2400  # -37.5 %
    )
    # Usable reserves 300 + 1,500 = 1,800 at the end of 2017-18 after drawing 2,600 - 1,800 =
    # 800 in the year: 1,800 / 800 = 2.25 years left at that rate.
    assert value_of(values, q, d1, "years_of_reserves_left")["value"] == pytest.approx(
        (300 + 1500) / ((600 + 2000) - (300 + 1500))
    )


@pytest.mark.parametrize(("quarter", "year_index"), [("2019Q1", 2), ("2018Q4", 2), ("2018Q3", 1)])
def test_every_district_reserves_indicator_point_in_time(
    values: pl.DataFrame, quarter: str, year_index: int
) -> None:
    """2017-18 became public on 2018-11-16: 2018Q3 (as of 2018-09-30) still sees 2016-17, whose
    two-year changes need 2014-15, which no file has (not computable, never a number)."""
    period = ["2015-16", "2016-17", "2017-18"][year_index]
    for code in D:
        for indicator, expected in hand_reserves(code, year_index).items():
            got = value_of(values, quarter, code, indicator)
            assert got["period"] == period, (code, indicator)
            assert got["published_date"] == RS_PUBLIC[period]
            assert got["published_date"] <= QUARTERS[quarter]
            if expected is None:
                assert got["value"] is None, (quarter, code, indicator)
                assert got["value_state"].startswith("not computable")
            else:
                assert got["value"] == pytest.approx(expected), (quarter, code, indicator)
                assert got["value_state"] == "reported"


def test_years_of_reserves_left_is_99_when_not_drawing(values: pl.DataFrame) -> None:
    # D2 added to its usable reserves in 2017-18 (1,350 + 3,150 -> 1,400 + 3,200).
    assert value_of(values, "2019Q1", D[1], "years_of_reserves_left")["value"] == 99


def test_no_returns_council_has_no_indicator_values(values: pl.DataFrame) -> None:
    assert values.filter(pl.col("council_code") == NO_RETURNS.gss_code).is_empty()


# --------------------------------------------------------------------------------------------
# Council tax receipts (read back from the generated workbook)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quarter", ["2019Q1", "2018Q3"])
def test_council_tax_receipts_growth_from_the_workbook(
    run: Run, values: pl.DataFrame, quarter: str
) -> None:
    as_of = QUARTERS[quarter]
    previous_four, last_four = ct_windows(as_of)
    if quarter == "2019Q1":
        # October to December 2018 was public on 2019-03-21; January to March 2019 was not.
        assert last_four[-1][0] == "October to December 2018 (Q3)"
        assert previous_four[0][0] == "January to March 2017 (Q4)"
    workbook = read_ct_workbook(run.data_dir)
    checked = 0
    for code in D:
        cells = row(workbook, **{"ONS Code": code})
        last = sum(cells[header] for header, _, _ in last_four)
        before = sum(cells[header] for header, _, _ in previous_four)
        got = value_of(values, quarter, code, "council_tax_receipts_growth")
        assert got["value"] == pytest.approx(100 * (last - before) / before), code
        assert got["period_end"] == last_four[-1][1]
        assert (
            got["period"]
            == f"{last_four[-1][1]:%Y}-{last_four[-1][1].month - 2:02d} and three quarters before"
        )
        assert got["published_date"] == last_four[-1][2]
        assert got["source_path"] == CT_XLSX
        checked += 1
    assert checked == 8
    # Counties do not bill council tax: no value, and (test_scoring) not applicable.
    assert values.filter(
        (pl.col("indicator_id") == "council_tax_receipts_growth") & pl.col("council_code").is_in(C)
    ).is_empty()


# --------------------------------------------------------------------------------------------
# A Data Explorer metric (read back from the generated CSV)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quarter", "year", "previous"),
    # 2017-18 was public on 2018-11-26 (31 March 2018 + 240 days).
    [
        ("2019Q1", "2017-18", "2016-17"),
        ("2018Q4", "2017-18", "2016-17"),
        ("2018Q3", "2016-17", "2015-16"),
    ],
)
def test_asc_carer_quality_of_life_from_the_csv(
    run: Run, values: pl.DataFrame, quarter: str, year: str, previous: str
) -> None:
    asc1 = read_asc(run.data_dir, "ASC1")
    for code in C:
        got = value_of(values, quarter, code, "asc_carer_quality_of_life")
        assert got["period"] == year
        assert got["value"] == pytest.approx(asc1[(code, year)])
        assert got["previous_value"] == pytest.approx(asc1[(code, previous)])
        assert got["published_date"] == date(int(year[:4]) + 1, 3, 31) + timedelta(days=240)
        assert got["source_path"] == ASC_CSV
    # Districts do not deliver adult social care: the generator writes no ASC rows for them.
    assert values.filter(
        pl.col("indicator_id").str.starts_with("asc_") & pl.col("council_code").is_in(D)
    ).is_empty()


def test_nothing_published_after_the_as_of_date_is_used(values: pl.DataFrame) -> None:
    as_of = pl.col("quarter").replace_strict(QUARTERS, return_dtype=pl.Date)
    late = values.filter(pl.col("published_date") > as_of)
    assert late.is_empty(), late
