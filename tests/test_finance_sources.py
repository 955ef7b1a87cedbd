"""The finance sources added for 2010-11 to 2024-25, on the real shipped files.

- la_finance_metrics: the LA Analytics JSON (2018-19 to 2024-25), its MD5 checked;
- core_spending_power: the settlement compilation (2015-16 to 2020-21, £ million);
- revenue_outturn: the 2010-11 to 2014-15 .xls workbooks beside the later .xlsx ones.

Expected figures are read here from the files themselves (json, csv, and the workbook's raw
cells), never from the pipeline's output.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, timedelta

import fastexcel
import pytest

from pipelines.catalogue import load_catalogue

JSON = "sources/la_finance_metrics/la-metrics-data.json"
CSP = "sources/core_spending_power/CSP_long_201520.csv"
OLD_RS = {f.period: f for f in load_catalogue()["revenue_outturn"].files if f.path.endswith(".xls")}
PRINCIPAL = {"Shire District", "Unitary Authority", "Met District", "London", "Shire County"}
MARKERS = {"#N/A", "[x]", "#VALUE!"}
WOKING, THURROCK, BIRMINGHAM = "E07000217", "E06000034", "E08000025"


@pytest.fixture(scope="module")
def json_rows(real) -> list[dict[str, str]]:
    document = json.loads(real.path(JSON).read_text(encoding="utf-8"))
    header, *records = document["data"]["values"]
    return [dict(zip(header, record, strict=True)) for record in records]


def test_the_shipped_json_is_whole(real):
    document = json.loads(real.path(JSON).read_text(encoding="utf-8"))
    compact = json.dumps(document["data"]["values"], separators=(",", ":"))
    assert hashlib.md5(compact.encode()).hexdigest() == document["data"]["metadata"]["hash"]


@pytest.mark.parametrize("council", [WOKING, THURROCK])
def test_gross_borrowing_at_31_march_2020_as_the_json_states(real, json_rows, council):
    [published] = [r for r in json_rows if r["Year"] == "202003" and r["ONS"] == council]
    [got] = real.dicts(
        "SELECT * FROM validated.la_finance_metrics WHERE council_code = ? AND period = ?",
        [council, "2019-20"],
    )
    assert got["gross_borrowing"] == float(published["Gross Borrowing"])
    assert got["capital_financing_requirement"] == float(published["CFR"])
    assert got["net_revenue_expenditure"] == float(published["NRE"])
    assert got["short_term_loans"] == float(published["Short Term Loans"])
    assert got["period_end"] == date(2020, 3, 31)
    # Final capital outturn is out by about December: year end + 270 days.
    assert got["published_date"] == date(2020, 3, 31) + timedelta(days=270)
    # Row numbers count the header as entry 1 of data.values.
    assert json_rows[got["source_row_number"] - 2]["ONS"] == council


def test_every_principal_council_row_lands_and_the_rest_is_out_of_scope(real, json_rows):
    principal = [r for r in json_rows if r["Class"] in PRINCIPAL]
    assert real.scalar("SELECT count(*) FROM validated.la_finance_metrics") == len(principal)
    out = real.quarantine("la_finance_metrics", "out_of_scope")
    assert len(out) == len(json_rows) - len(principal)
    assert not real.quarantine("la_finance_metrics", "rejected")


def test_not_reported_cells_are_a_state_never_a_number(real, json_rows):
    marked = [
        (r["ONS"], r["Year"], header)
        for r in json_rows
        if r["Class"] in PRINCIPAL
        for header in ("NRE", "Reserves", "CFR", "Gross Borrowing", "Interest", "MRP")
        if r[header] in MARKERS
    ]
    assert marked  # the file has them: 2022-23 onwards
    names = {
        "NRE": "net_revenue_expenditure",
        "Reserves": "usable_reserves",
        "CFR": "capital_financing_requirement",
        "Gross Borrowing": "gross_borrowing",
        "Interest": "interest",
        "MRP": "minimum_revenue_provision",
    }
    for code, year, header in marked:
        period = f"{int(year[:4]) - 1}-{year[2:4]}"
        [got] = real.dicts(
            f"SELECT {names[header]} AS value, not_reported_columns "
            "FROM validated.la_finance_metrics WHERE source_council_code = ? AND period = ?",
            [code, period],
        )
        assert got["value"] is None
        assert names[header] in got["not_reported_columns"].split(",")


def test_a_missing_revenue_return_is_not_zero_reserves(real, json_rows):
    """Where NRE is #N/A the compilation writes 0 reserves: that is "not reported" too."""
    rows = [r for r in json_rows if r["Class"] in PRINCIPAL and r["NRE"] == "#N/A"]
    assert rows and all(r["Reserves"] == "0" for r in rows)
    for r in rows:
        period = f"{int(r['Year'][:4]) - 1}-{r['Year'][2:4]}"
        [got] = real.dicts(
            "SELECT usable_reserves, not_reported_columns FROM validated.la_finance_metrics "
            "WHERE source_council_code = ? AND period = ?",
            [r["ONS"], period],
        )
        assert got["usable_reserves"] is None
        assert "usable_reserves" in got["not_reported_columns"]


def test_core_spending_power_is_known_at_the_settlement(real):
    with real.path(CSP).open(newline="", encoding="utf-8") as handle:
        [woking] = [
            r for r in csv.DictReader(handle) if r["ons_code"] == WOKING and r["year"] == "2019"
        ]
    [got] = real.dicts(
        "SELECT * FROM validated.core_spending_power WHERE council_code = ? AND year = 2019",
        [WOKING],
    )
    assert got["period"] == "2019-20"
    assert got["core_spending_power"] == pytest.approx(float(woking["total_spend"]))
    assert got["core_spending_power_thousands"] == pytest.approx(
        1000 * float(woking["total_spend"])
    )
    assert got["published_date"] == date(2019, 3, 1)


def _old_rs_cells(real, period: str, tab: str) -> list[list[str | None]]:
    """The raw cells of one tab of an old workbook, every row, no header handling."""
    path = real.path(OLD_RS[period].path)
    sheet = fastexcel.read_excel(path).load_sheet(
        f"RS LA Data {period} {tab}", header_row=None, dtypes="string"
    )
    frame = sheet.to_polars()
    return [list(frame.row(i)) for i in range(frame.height)]


def _block(cells: list[list[str | None]], label: str, header: str) -> int:
    """The column under `label` (row 5) whose header (row 6) is `header`."""
    labels, headers = cells[4], cells[5]
    start = labels.index(label)
    return next(i for i in range(start, len(headers)) if headers[i] == header)


def test_birmingham_2012_13_reserves_as_the_workbook_states(real):
    start = _old_rs_cells(real, "2012-13", "(1)")
    end = _old_rs_cells(real, "2012-13", "(2)")
    [row] = [i for i, r in enumerate(start) if r[1] and r[1].strip() == "Birmingham"]
    assert end[row][1].strip() == "Birmingham"  # the tabs list councils in the same order
    nre = start[5].index("NET REVENUE EXPENDITURE (TOTAL OF LINES 800 TO 804)")
    unallocated = _block(
        end, "Financial reserves levels at 31 March 2013", "Unallocated financial reserves level"
    )
    earmarked = _block(
        end,
        "Financial reserves levels at 31 March 2013",
        "Other earmarked financial reserves level",
    )
    unallocated_start = _block(
        start, "Financial reserves levels at 1 April 2012", "Unallocated financial reserves level"
    )
    [got] = real.dicts(
        "SELECT * FROM validated.revenue_outturn WHERE council_code = ? AND period = '2012-13'",
        [BIRMINGHAM],
    )
    assert got["code_resolved_by"] == "ecode"  # no ONS code in the older editions
    assert got["source_row_number"] == row + 1
    assert got["net_revenue_expenditure"] == float(start[row][nre])
    assert got["unallocated_reserves_end"] == float(end[row][unallocated])
    assert got["earmarked_reserves_end"] == float(end[row][earmarked])
    assert got["unallocated_reserves_start"] == float(start[row][unallocated_start])
    assert got["public_health_reserves_end"] is None  # public health came in April 2013


@pytest.mark.parametrize("period", sorted(OLD_RS))
def test_every_row_of_an_old_workbook_is_accounted_for(real, period):
    cells = _old_rs_cells(real, period, "(1)")
    # The table runs from the first E-code under the header to the first row without one.
    first = next(i for i in range(6, len(cells)) if cells[i][0])
    last = next(i for i in range(first, len(cells)) if not cells[i][0])
    table = cells[first:last]
    path = OLD_RS[period].path
    loaded = real.scalar(
        "SELECT count(*) FROM raw.revenue_outturn r JOIN raw.current_loads c USING (load_id) "
        "WHERE r.source_path = ?",
        [path],
    )
    valid = real.scalar(
        "SELECT count(*) FROM validated.revenue_outturn WHERE source_path = ?", [path]
    )
    quarantined = real.scalar(
        "SELECT count(DISTINCT source_row_number) FROM validated.quarantine "
        "WHERE source_id = 'revenue_outturn' AND source_path = ?",
        [path],
    )
    assert loaded == len(table)
    assert valid + quarantined == loaded
    # Principal councils (classes L, MD, UA, SC, SD) are the ones kept.
    klass = cells[5].index("Class")  # 2014-15 adds ONS code and region columns before it
    principal = sum(1 for r in table if (r[klass] or "").strip() in {"L", "MD", "UA", "SC", "SD"})
    rejected = real.scalar(
        "SELECT count(DISTINCT source_row_number) FROM validated.quarantine "
        "WHERE source_id = 'revenue_outturn' AND source_path = ? AND disposition = 'rejected'",
        [path],
    )
    assert valid == principal - rejected


def test_old_workbooks_reject_exactly_their_negative_general_balances(real):
    """Unallocated and earmarked balances cannot be negative (a council cannot hold less than
    nothing); a few old returns state one, and only those rows are rejected, naming the cell."""
    expected = set()
    for period, file in OLD_RS.items():
        first_year = int(period[:4])
        for tab, when, label in (
            ("(1)", "start", f"Financial reserves levels at 1 April {first_year}"),
            ("(2)", "end", f"Financial reserves levels at 31 March {first_year + 1}"),
        ):
            cells = _old_rs_cells(real, period, tab)
            klass = cells[5].index("Class")
            for kind, header in (
                ("earmarked", "Other earmarked financial reserves level"),
                ("unallocated", "Unallocated financial reserves level"),
            ):
                column = _block(cells, label, header)
                for i, r in enumerate(cells[6:], start=7):
                    principal = (r[klass] or "").strip() in {"L", "MD", "UA", "SC", "SD"}
                    if principal and r[column] and float(r[column]) < 0:
                        expected.add((file.path, i, f"{kind}_reserves_{when}"))
    got = {
        (q["source_path"], q["source_row_number"], q["column_name"])
        for q in real.quarantine("revenue_outturn", "rejected")
    }
    assert expected and got == expected
