"""Debt sources: the Borrowing and Investment live tables and the capital outturn prudential
indicators, landed through Dagster on the fictional estate (figures known from the generator)
and on the real shipped files (figures read here from the workbook XML or the CSV itself)."""

from __future__ import annotations

import csv
from datetime import date

import duckdb
import polars as pl
import pytest

from pipelines.catalogue import load_catalogue
from pipelines.sql import load_sql
from pipelines.synthetic import (
    live_table_borrowing,
    live_table_date,
    live_table_investments,
    prudential_value,
)

DEBT_SOURCES = ["borrowing_live_table", "investments_live_table", "prudential_indicators"]
NEW_EDITION = "sources/borrowing_investment/Borrowing_and_Investment_Live_Table_Q4_2019_20.xlsx"
OLD_EDITION = (
    "sources/borrowing_investment/Borrowing_and_Investment_Live_Table_Q3_2016_17 Lockdown.xlsx"
)
PRUDENTIAL_CSV = "sources/capital_outturn/Prudential_indicators_wide.csv"


def _accounted(pipeline, source: str) -> tuple[int, int, int]:
    raw = pipeline.scalar(
        f"SELECT count(*) FROM raw.{source} r JOIN raw.current_loads c USING (load_id) "
        "WHERE c.source_id = ?",
        [source],
    )
    valid = pipeline.scalar(f"SELECT count(*) FROM validated.{source}")
    quarantined = pipeline.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT load_id, source_path, source_row_number, "
        "source_column FROM validated.quarantine WHERE source_id = ?)",
        [source],
    )
    return raw, valid, quarantined


def _dates(source: str, edition: int) -> set[date]:
    return {live_table_date(s) for s in load_catalogue()[source].files[edition].sheets}


# ---- fictional estate ------------------------------------------------------------------------


def test_live_table_lands_every_council_and_date_newer_edition_wins(fictional_base, estate):
    new, old = _dates("borrowing_live_table", 0), _dates("borrowing_live_table", 1)
    assert new & old == {date(2014, 3, 31), date(2015, 3, 31), date(2016, 3, 31)}
    councils = len(estate.councils)
    for source in ("borrowing_live_table", "investments_live_table"):
        raw, valid, quarantined = _accounted(fictional_base, source)
        assert raw == valid + quarantined
        assert valid == councils * len(new | old)
        superseded = fictional_base.quarantine(source, "superseded")
        assert len(superseded) == councils * 3
        assert {q["source_path"] for q in superseded} == {OLD_EDITION}
        # Each tab's England total and fictional police row are set aside, not validated.
        out = fictional_base.quarantine(source, "out_of_scope")
        assert len(out) == 2 * (len(new) + len(old))
        assert not fictional_base.quarantine(source, "rejected")


def test_live_table_totals_match_the_generated_lenders(fictional_base, estate):
    council = estate.councils[5]
    when = date(2020, 3, 31)
    lenders = live_table_borrowing(council, when)
    row = fictional_base.dicts(
        "SELECT * FROM validated.borrowing_live_table WHERE council_code = ? AND period_end = ?",
        [council.gss_code, when],
    )[0]
    assert row["gross_borrowing"] == sum(lenders)
    assert row["pwlb"] == lenders[10]
    assert row["borrowing_from_other_councils"] == lenders[19] + lenders[20]
    assert row["short_term_borrowing"] == sum(lenders[0:8]) + lenders[19]
    assert (row["financial_year"], row["fiscal_quarter"]) == ("2019-20", 4)
    # No publication date in the workbook: the quarter end plus the catalogue's lag.
    assert row["published_date"] == date(2020, 7, 1)
    investments = fictional_base.scalar(
        "SELECT total_investments FROM validated.investments_live_table "
        "WHERE council_code = ? AND period_end = ?",
        [council.gss_code, date(2016, 12, 31)],
    )
    assert investments == sum(live_table_investments(council, date(2016, 12, 31)))


def test_prudential_names_resolve_and_budgets_stay_forecasts(fictional_base, estate):
    raw, valid, quarantined = _accounted(fictional_base, "prudential_indicators")
    assert raw == valid + quarantined
    council = estate.councils[3]
    rows = fictional_base.dicts(
        "SELECT * FROM validated.prudential_indicators WHERE council_code = ? "
        "AND measure = 'cfr_end' ORDER BY basis, financial_year",
        [council.gss_code],
    )
    outturn = [r for r in rows if r["basis"] == "Outturn"]
    budget = [r for r in rows if r["basis"] == "Budget"]
    assert [r["financial_year"] for r in outturn][-1] == "2018-19"
    assert all(not r["is_forecast"] for r in outturn) and all(r["is_forecast"] for r in budget)
    assert outturn[0]["value_thousands"] == pytest.approx(
        1000 * prudential_value(council, "CFR, 31 March", "2004-05")
    )
    # The England total is out of scope; every fictional council's name resolved.
    assert not fictional_base.quarantine("prudential_indicators", "rejected")


def test_debt_indicators_on_the_fictional_estate(fictional_base, estate):
    """Borrowing from other councils at the latest public date, computed by hand from the
    generator's figures. (Growth and the other debt levels read the finance series: see
    test_the_finance_series_takes_live_table_and_prudential_figures and
    tests/test_finance_indicators.py.)"""
    council = next(c for c in estate.councils if c.authority_type == "UA")
    with duckdb.connect(str(fictional_base.database), read_only=True) as connection:
        connection.execute(
            "CREATE TEMP TABLE as_of_dates AS "
            "SELECT '2019Q4' AS quarter, DATE '2019-12-31' AS as_of_date"
        )
        values = pl.from_arrow(
            connection.sql(load_sql("indicators/debt_live_table")).to_arrow_table()
        )
    assert isinstance(values, pl.DataFrame)
    mine = {
        r["indicator_id"]: r
        for r in values.filter(pl.col("council_code") == council.gss_code).to_dicts()
    }
    # 30 September 2019 is public by 31 December 2019 (92 days); 31 December 2019 is not.
    at = live_table_borrowing(council, date(2019, 9, 30))
    share = mine["borrowing_from_other_councils_share"]
    assert share["period_end"] == date(2019, 9, 30)
    assert share["value"] == pytest.approx(100 * (at[19] + at[20]) / sum(at))


# ---- real shipped files ------------------------------------------------------------------------


def _lgf_row(cells, code: str) -> int:
    [row] = [r for (r, c), v in cells.items() if c == 1 and str(v).strip() == code]
    return row


def _header(cells, row: int, text: str) -> int:
    [column] = [c for (r, c), v in cells.items() if r == row and " ".join(str(v).split()) == text]
    return column


@pytest.mark.slow
def test_real_woking_borrowing_at_31_march_2020(real, xlsx_cells):
    cells = xlsx_cells(real.path(NEW_EDITION), "LA Borrowing 19-20 Q4")
    row = _lgf_row(cells, "E3641")
    assert cells[(row, 2)] == "Woking"
    first = _header(cells, 11, "Loans short term - Banks in UK")
    last = _header(cells, 11, "Longer Term Loans Local Authorities")
    expected = sum(float(cells.get((row, c), 0)) for c in range(first, last + 1))
    stored = real.dicts(
        "SELECT gross_borrowing, source_row_number, source_column FROM "
        "validated.borrowing_live_table WHERE council_code = 'E07000217' "
        "AND period_end = DATE '2020-03-31'"
    )
    assert stored == [
        {
            "gross_borrowing": expected,
            "source_row_number": row,
            "source_column": "LA Borrowing 19-20 Q4",
        }
    ]


@pytest.mark.slow
def test_real_thurrock_borrowing_from_other_councils(real, xlsx_cells):
    cells = xlsx_cells(real.path(NEW_EDITION), "LA Borrowing 18-19 Q4")
    row = _lgf_row(cells, "E1502")
    short = float(cells[(row, _header(cells, 11, "Short Term Loans Local Authorities"))])
    longer = float(cells[(row, _header(cells, 11, "Longer Term Loans Local Authorities"))])
    stored = real.scalar(
        "SELECT borrowing_from_other_councils FROM validated.borrowing_live_table "
        "WHERE council_code = 'E06000034' AND period_end = DATE '2019-03-31'"
    )
    assert stored == short + longer and stored > 0


@pytest.mark.slow
def test_real_editions_overlap_newer_wins_older_kept(real):
    rows = real.dicts(
        "SELECT source_path FROM validated.borrowing_live_table "
        "WHERE council_code = 'E06000034' AND period_end = DATE '2016-03-31'"
    )
    assert rows == [{"source_path": NEW_EDITION}]
    older = [
        q
        for q in real.quarantine("borrowing_live_table", "superseded")
        if q["source_column"] == "LA Borrowing 15-16"
    ]
    assert older and {q["source_path"] for q in older} == {OLD_EDITION}
    for source in DEBT_SOURCES:
        raw, valid, quarantined = _accounted(real, source)
        assert raw == valid + quarantined, source


@pytest.mark.slow
def test_real_prudential_one_year_dip_is_quarantined(real):
    with real.path(PRUDENTIAL_CSV).open(newline="", encoding="utf-8") as handle:
        [line] = [
            r
            for r in csv.DictReader(handle)
            if r["LA"] == "Cambridgeshire"
            and r["Variable"] == "Gross debt, 31 March"
            and r["basis"] == "Outturn"
        ]
    before, dip, after = (float(line[y]) for y in ("2015-16", "2016-17", "2017-18"))
    assert dip * 5 < before and dip * 5 < after  # the published dip, read from the file
    entries = [
        q
        for q in real.quarantine("prudential_indicators", "rejected")
        if q["source_column"] == "2016-17" and q["failure_value"] == line["2016-17"]
    ]
    assert [q["reason"] for q in entries] == ["not a one-year spike or dip of more than fivefold"]
    kept = real.scalar(
        "SELECT value_millions FROM validated.prudential_indicators p "
        "WHERE council_name = 'Cambridgeshire' AND variable = 'Gross debt, 31 March' "
        "AND basis = 'Outturn' AND financial_year = '2015-16'"
    )
    assert kept == before


def test_the_finance_series_takes_live_table_and_prudential_figures(fictional_base, estate):
    """Before the 2018-19 compilation, the council-year finance series (read by the debt
    indicators) takes borrowing at 31 March from the live table and CFR and gross debt from the
    prudential outturn, never a budget."""
    council = estate.councils[7]
    with duckdb.connect(str(fictional_base.database), read_only=True) as connection:
        connection.execute(load_sql("indicators/finance_years"))
        rows = connection.execute(
            "SELECT period, measure, source_id, value FROM finance_years "
            "WHERE council_code = ? AND source_id IN ('borrowing_live_table', "
            "'prudential_indicators')",
            [council.gss_code],
        ).fetchall()
    series = {(period, measure, source): value for period, measure, source, value in rows}
    assert series[("2017-18", "gross_borrowing", "borrowing_live_table")] == sum(
        live_table_borrowing(council, date(2018, 3, 31))
    )
    assert series[("2017-18", "capital_financing_requirement", "prudential_indicators")] == (
        pytest.approx(1000 * prudential_value(council, "CFR, 31 March", "2017-18"))
    )
    assert series[("2017-18", "external_debt", "prudential_indicators")] == pytest.approx(
        1000 * prudential_value(council, "Gross debt, 31 March", "2017-18")
    )
    periods = {period for period, _, source in series if source == "prudential_indicators"}
    # Budgets are forecasts: no prudential figure for 2019-20; the outturn reaches 2004-05.
    assert "2019-20" not in periods and min(periods) == "2004-05"


def test_capital_returns_keep_outturn_and_forecasts_apart(fictional_base, estate):
    council = estate.councils[2]
    for source, column in (("capital_outturn_cfr", "cfr_end"), ("capital_outturn_borrowing",
                           "gross_borrowing_end")):  # fmt: skip
        raw, valid, quarantined = _accounted(fictional_base, source)
        assert raw == valid + quarantined
        rows = fictional_base.dicts(
            f"SELECT period, basis, is_forecast, {column} AS value FROM validated.{source} "
            "WHERE council_code = ? ORDER BY period",
            [council.gss_code],
        )
        assert [(r["period"], r["basis"], r["is_forecast"]) for r in rows] == [
            ("2017-18", "outturn", False),
            ("2018-19", "outturn", False),
            ("2019-20", "forecast", True),
            ("2020-21", "forecast", True),
        ]
        from pipelines.synthetic import capital_return_values

        assert [r["value"] for r in rows] == [
            capital_return_values(council, r["period"])[column] for r in rows
        ]
        # The fictional police line of each tab is out of scope, nothing is rejected.
        assert not fictional_base.quarantine(source, "rejected")


@pytest.mark.slow
def test_real_raw_row_counts_match_the_files(real, xlsx_cells):
    """Every row of every catalogued tab below its header with any cell, one raw row each (a
    blank row is layout); the prudential CSV one raw row per year cell."""
    catalogue = load_catalogue()
    for source in ("borrowing_live_table", "investments_live_table"):
        for file in catalogue[source].files:
            expected = 0
            for sheet in file.sheets:
                cells = xlsx_cells(real.path(file.path), sheet)
                expected += len(
                    {r for (r, _), v in cells.items() if r > file.header_row and str(v).strip()}
                )
            loaded = real.scalar(
                "SELECT row_count FROM raw.loads WHERE source_id = ? AND source_path = ?",
                [source, file.path],
            )
            assert loaded == expected, (source, file.path)
    with real.path(PRUDENTIAL_CSV).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = sum(1 for _ in reader)
    years = [h for h in header if len(h) == 7 and h[4] == "-"]
    assert len(years) == 16 and records == 16156  # 2004-05 to 2019-20, as SOURCES.md says
    assert real.scalar(
        "SELECT row_count FROM raw.loads WHERE source_id = 'prudential_indicators'"
    ) == records * len(years)
