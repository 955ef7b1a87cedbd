"""Bad input for the debt sources: each case breaks one fictional file the way real live tables
and capital outturn files go wrong, re-materialises that source through Dagster, and asserts a
structural refusal naming the file (and tab), or exactly the quarantine entries expected, with
raw = validated + quarantined."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path

import fastexcel
import pytest
import xlsxwriter

from pipelines.catalogue import load_catalogue

NEW_EDITION = "sources/borrowing_investment/Borrowing_and_Investment_Live_Table_Q4_2019_20.xlsx"
PRUDENTIAL_CSV = "sources/capital_outturn/Prudential_indicators_wide.csv"
TAB = "LA Borrowing 19-20 Q4"
HEADER_ROW = 11  # the new edition's header row (sources.yaml)
NOT_IN_REGISTER = "council code missing, or not in the register (nor a former code)"
NAME_NOT_IN_REGISTER = (
    "council name missing, or it matches no council (or more than one, and the row's date does "
    "not say which) in the register's names and name lookup, exactly nor once 'Council', "
    "'Borough of' and the like are set aside"
)

Sheets = dict[str, list[list[str | None]]]
COR_2018 = "sources/capital_outturn/COR_2018-19_outputs_COR_C.xlsx"
CER_2020 = "sources/capital_outturn/CER_2020-21_C_prudential_system_information.xlsx"
NAME_LOOKUP_CSV = "sources/capital_outturn/la_names_lookup.csv"
# The debt sources this file's cases break (tests/test_bad_input_corpus.py counts them in).
COVERED_SOURCES = {
    "borrowing_live_table",
    "investments_live_table",
    "prudential_indicators",
    "capital_outturn_name_lookup",
    "capital_outturn_cfr",
    "capital_outturn_borrowing",
}


def rewrite_workbook(path: Path, change: Callable[[Sheets], None]) -> None:
    """Read every tab's cells as text, let `change` edit them, write the workbook again. (Every
    tab the fictional estate writes starts on row 1, so row numbers are kept.)"""
    book = fastexcel.read_excel(path)
    sheets: Sheets = {}
    for name in book.sheet_names:
        frame = book.load_sheet(name, header_row=None, dtypes="string").to_polars()
        sheets[name] = [list(row) for row in frame.iter_rows()]
    change(sheets)
    out = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = out.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write_string(r, c, value)
    out.close()


def council_row(rows: list[list[str | None]], code: str) -> int:
    """The spreadsheet row (from 1) of a council's line, found by its ONS code."""
    return next(i + 1 for i, row in enumerate(rows) if code in row)


def column(rows: list[list[str | None]], header: str) -> int:
    return rows[HEADER_ROW - 1].index(header)


def entries(pipeline, source: str, disposition: str) -> list[tuple]:
    return [
        (
            q["source_path"],
            q["source_row_number"],
            q["source_column"],
            q["column_name"],
            q["failure_value"],
            q["reason"],
        )
        for q in pipeline.quarantine(source, disposition)
    ]


def land(pipeline, source: str):
    return pipeline.materialize([f"raw/{source}", f"validated/{source}"], raise_on_error=False)


def assert_accounted(pipeline, source: str) -> None:
    check = pipeline.check(f"validated/{source}", "raw_rows_accounted_for")
    assert check.passed, check.metadata


def assert_refused(pipeline, source: str, relative: str, *texts: str) -> None:
    result = land(pipeline, source)
    assert not result.success
    message = pipeline.failure(f"raw__{source}")
    assert str(pipeline.path(relative).resolve()) in message, message
    for text in texts:
        assert text in message, message
    assert f"validated/{source}" not in pipeline.materialized()


def test_renamed_tab_is_refused_naming_file_and_tab(fictional):
    def rename(sheets: Sheets) -> None:
        sheets["Borrowing Q4 2019-20"] = sheets.pop(TAB)

    rewrite_workbook(fictional.path(NEW_EDITION), rename)
    assert_refused(
        fictional, "borrowing_live_table", NEW_EDITION, f"sheet(s) ['{TAB}'] not found", "renamed"
    )


def test_xlsx_that_is_really_html_is_refused(fictional):
    fictional.path(NEW_EDITION).write_text(
        "<html><body><table><tr><td>LGF code</td></tr></table></body></html>", encoding="utf-8"
    )
    assert_refused(fictional, "investments_live_table", NEW_EDITION, "not a readable .xlsx")


def test_a_tab_missing_a_lender_column_is_refused_naming_the_tab(fictional):
    def drop(sheets: Sheets) -> None:
        at = column(sheets[TAB], "Loans Longer-term - PWLB (a)")
        for row in sheets[TAB]:
            if len(row) > at:
                del row[at]

    rewrite_workbook(fictional.path(NEW_EDITION), drop)
    assert_refused(
        fictional, "borrowing_live_table", NEW_EDITION, f"[sheet '{TAB}']", "missing required"
    )


def test_repeated_block_and_blank_rows(fictional, estate):
    """A tab whose council block is pasted again below a gap of blank rows: the blank rows are
    layout, each repeated line is an exact duplicate of the first, kept in the quarantine."""
    rows_added: dict[str, int] = {}

    def repeat(sheets: Sheets) -> None:
        rows = sheets[TAB]
        block = [r for r in rows[HEADER_ROW:] if r[0] and r[0].startswith("E9")]
        rows_added["first"] = council_row(rows, block[0][-1])
        rows_added["gap"] = len(rows) + 1
        rows.extend([[None] * len(rows[0])] * 2)
        rows_added["start"] = len(rows) + 1
        rows.extend([list(r) for r in block[:3]])

    raw_before = fictional.scalar("SELECT count(*) FROM raw.borrowing_live_table")
    rewrite_workbook(fictional.path(NEW_EDITION), repeat)
    assert land(fictional, "borrowing_live_table").success, fictional.failures()
    start, first = rows_added["start"], rows_added["first"]
    assert entries(fictional, "borrowing_live_table", "duplicate") == [
        (NEW_EDITION, start + i, TAB, "(row)", str(first + i), f"repeats row {first + i} of "
         "the same file word for word")
        for i in range(3)
    ]  # fmt: skip
    # The whole file is loaded again (new bytes): the old rows plus three, no blank rows.
    loads = fictional.query(
        "SELECT row_count FROM raw.loads WHERE source_id = 'borrowing_live_table' "
        "AND source_path = ? ORDER BY loaded_at",
        [NEW_EDITION],
    )
    assert loads[-1][0] == loads[0][0] + 3
    assert raw_before > 0
    assert_accounted(fictional, "borrowing_live_table")


def test_unknown_ecode_negative_debt_and_a_future_date(fictional, estate):
    council = estate.councils[0]
    other = estate.councils[1]
    noted: dict[str, int] = {}

    def spoil(sheets: Sheets) -> None:
        rows = sheets[TAB]
        # An unknown E-code on a council-looking ONS code: rejected, naming the code.
        at = council_row(rows, council.gss_code)
        rows[at - 1][0] = "E98765"
        rows[at - 1][-1] = "E06999999"
        noted["unknown"] = at
        # Negative PWLB debt: rejected by the schema, naming the column and value.
        at = council_row(rows, other.gss_code)
        rows[at - 1][column(rows, "Loans Longer-term - PWLB (a)")] = "-5"
        noted["negative"] = at
        # A tab that says it stands at a date years ahead: every line rejected.
        sheets["LA Investments 19-20 Q4"][0][0] = (
            "Outstanding investments by local authority and category, as at 31 March 2099, UK"
        )

    rewrite_workbook(fictional.path(NEW_EDITION), spoil)
    assert land(fictional, "borrowing_live_table").success, fictional.failures()
    rejected = entries(fictional, "borrowing_live_table", "rejected")
    assert (
        NEW_EDITION, noted["unknown"], TAB, "council_code", "E06999999", NOT_IN_REGISTER
    ) in rejected  # fmt: skip
    [negative] = [r for r in rejected if r[1] == noted["negative"]]
    assert negative[2:5] == (TAB, "pwlb", "-5.0")
    assert "greater_than_or_equal_to(0)" in negative[5]
    assert len(rejected) == 2
    assert_accounted(fictional, "borrowing_live_table")

    assert land(fictional, "investments_live_table").success, fictional.failures()
    future = entries(fictional, "investments_live_table", "rejected")
    assert len(future) == len(estate.councils)
    assert {(r[2], r[3], r[4], r[5]) for r in future} == {
        (
            "LA Investments 19-20 Q4",
            "period_end",
            str(date(2099, 3, 31)),
            "the date has passed by the day the file was loaded",
        )
    }
    assert_accounted(fictional, "investments_live_table")


def test_a_name_matching_no_council_is_rejected_naming_it(fictional, estate):
    path = fictional.path(PRUDENTIAL_CSV)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[1][0] = "Nowhere-on-Sea"
    figures = sum(1 for cell in rows[1][6:] if cell.strip())
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    assert land(fictional, "prudential_indicators").success, fictional.failures()
    rejected = entries(fictional, "prudential_indicators", "rejected")
    assert len(rejected) == figures
    assert {(r[1], r[3], r[4], r[5]) for r in rejected} == {
        (2, "council_name", "Nowhere-on-Sea", NAME_NOT_IN_REGISTER)
    }
    assert_accounted(fictional, "prudential_indicators")


@pytest.mark.parametrize("source", ["borrowing_live_table", "investments_live_table"])
def test_every_catalogue_tab_is_in_the_shipped_workbooks(source):
    """The catalogue's tab lists match the real workbooks (a renamed tab upstream fails here
    before it fails a run)."""
    for file in load_catalogue()[source].files:
        names = fastexcel.read_excel(Path("data") / file.path).sheet_names
        assert set(file.sheets) <= set(names), file.path


def test_capital_return_tab_renamed_is_refused(fictional):
    def rename(sheets: Sheets) -> None:
        sheets["CFR"] = sheets.pop("Capital Financing Requirement")

    rewrite_workbook(fictional.path(COR_2018), rename)
    assert_refused(
        fictional,
        "capital_outturn_cfr",
        COR_2018,
        "sheet 'Capital Financing Requirement' not found",
    )


def test_capital_return_negative_borrowing_is_rejected(fictional, estate):
    council = estate.councils[4]
    noted: dict[str, int] = {}

    def spoil(sheets: Sheets) -> None:
        rows = sheets["Prudential"]
        at = council_row(rows, council.gss_code)
        header = rows[4].index("Gross borrowing as at 31 March 2021")
        rows[at - 1][header] = "-1200"
        noted["row"] = at

    rewrite_workbook(fictional.path(CER_2020), spoil)
    assert land(fictional, "capital_outturn_borrowing").success, fictional.failures()
    [entry] = entries(fictional, "capital_outturn_borrowing", "rejected")
    assert entry[:5] == (CER_2020, noted["row"], None, "gross_borrowing_end", "-1200.0")
    assert "greater_than_or_equal_to(0)" in entry[5]
    assert_accounted(fictional, "capital_outturn_borrowing")


def test_a_name_variant_given_two_standard_names_is_rejected(fictional, estate):
    path = fictional.path(NAME_LOOKUP_CSV)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows.append([rows[1][0], "Somewhere Else"])
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    assert land(fictional, "capital_outturn_name_lookup").success, fictional.failures()
    rejected = entries(fictional, "capital_outturn_name_lookup", "rejected")
    assert {r[1] for r in rejected} == {2, len(rows)}
    assert_accounted(fictional, "capital_outturn_name_lookup")
