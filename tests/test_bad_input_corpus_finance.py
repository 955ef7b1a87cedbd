"""The bad-input corpus for the finance sources added for 2010-11 to 2024-25: the finance
metrics JSON (la_finance_metrics), core spending power (CSV) and the older Revenue Outturn
workbooks (.xls). Each case breaks one file of the materialised fictional estate and asserts
the exact outcome through tests/test_bad_input_corpus.py's runner: a structural refusal naming
the file and the reason, or exactly these quarantine rows with raw = validated + quarantined.

The fictional estate writes the JSON and CSV with no councils and the .xls workbooks with no
councils; a case writes the rows it needs (so `raw_delta` is the rows it writes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import xlsxwriter
from test_bad_input_corpus import NOT_A_COUNCIL, NOT_IN_REGISTER, Case, Ctx, Q, run_case

from pipelines.synthetic import (
    CSP_HEADER,
    LA_METRICS_CLASS,
    LA_METRICS_HEADER,
    OLD_RS_FILES,
    la_metrics_document,
    write_old_rs_workbook,
)

FM_JSON = "sources/la_finance_metrics/la-metrics-data.json"
CSP_CSV = "sources/core_spending_power/CSP_long_201520.csv"
OLD_RS = {year: f"sources/revenue_outturn_2010_2015/{name}" for year, name in OLD_RS_FILES.items()}
FUTURE = "the year has ended by the day the file was loaded"
OUT_OF_SCOPE_BODY = "not a principal council (police, fire, park, waste, combined authority or GLA)"


# --------------------------------------------------------------------------------------------
# The finance metrics JSON
# --------------------------------------------------------------------------------------------


def _fm_record(ctx: Ctx, index: int, **change: str) -> list[str]:
    """A plausible 2019-20 row for the estate's council `index`, every cell a string."""
    council = ctx.estate.councils[index]
    cells = {h: "100" for h in LA_METRICS_HEADER}
    cells.update(
        {
            "Year": "202003",
            "ONS": council.gss_code,
            "LA Code": council.ecode,
            "Name": council.name,
            "Status": "Actual",
            "Class": LA_METRICS_CLASS[council.authority_type],
            "ID": f"202003{council.ecode}",
            "NRE": "25000",
            "Reserves": "8000",
            "Gross Borrowing": "40000",
            "Net External Debt": "-300",
        }
    )
    cells.update(change)
    return [cells[h] for h in LA_METRICS_HEADER]


def _write_fm(p, rows: list[list[str]], document: dict | None = None) -> None:
    p.path(FM_JSON).write_text(
        json.dumps(document or la_metrics_document(rows), separators=(",", ":")), "utf-8"
    )


def _fm_rows(*records: Any) -> Any:
    """Write the header and these records (each a function of the context) with a true hash."""

    def breaks(p, ctx: Ctx) -> None:
        _write_fm(p, [list(LA_METRICS_HEADER), *[r(ctx) for r in records]])

    return breaks


def _fm_wrong_hash(p, ctx: Ctx) -> None:
    rows = [list(LA_METRICS_HEADER), _fm_record(ctx, 0), _fm_record(ctx, 1)]
    document = la_metrics_document(rows)
    rows.pop()  # a row lost after the hash was made: the file is not whole
    document["data"]["values"] = rows
    _write_fm(p, rows, document)


def _fm_no_hash(p, ctx: Ctx) -> None:
    rows = [list(LA_METRICS_HEADER), _fm_record(ctx, 0)]
    document = la_metrics_document(rows)
    del document["data"]["metadata"]["hash"]
    _write_fm(p, rows, document)


def _fm_without(header: str) -> Any:
    def breaks(p, ctx: Ctx) -> None:
        keep = [i for i, h in enumerate(LA_METRICS_HEADER) if h != header]
        rows = [list(LA_METRICS_HEADER), _fm_record(ctx, 0)]
        _write_fm(p, [[r[i] for i in keep] for r in rows])

    return breaks


def _fm_headless(p, ctx: Ctx) -> None:
    _write_fm(p, [_fm_record(ctx, 0), _fm_record(ctx, 1)])


def _fm_short_row(p, ctx: Ctx) -> None:
    _write_fm(p, [list(LA_METRICS_HEADER), _fm_record(ctx, 0), _fm_record(ctx, 1)[:-1]])


def _fm_markers_also(p, ctx: Ctx) -> None:
    [row] = p.dicts(
        "SELECT net_revenue_expenditure, capital_financing_requirement, usable_reserves, "
        "not_reported_columns FROM validated.la_finance_metrics WHERE source_row_number = 2"
    )
    assert row["net_revenue_expenditure"] is None and row["capital_financing_requirement"] is None
    assert row["usable_reserves"] is None  # the 0 written beside a missing revenue return
    assert set(row["not_reported_columns"].split(",")) == {
        "net_revenue_expenditure",
        "capital_financing_requirement",
        "interest",
        "usable_reserves",
        "grants",
    }


# --------------------------------------------------------------------------------------------
# Core spending power
# --------------------------------------------------------------------------------------------


def _csp_rows(*rows: Any, header: list[str] | None = None) -> Any:
    def breaks(p, ctx: Ctx) -> None:
        p.write_csv(CSP_CSV, [header or CSP_HEADER, *[r(ctx) for r in rows]])

    return breaks


def _csp_row(ctx: Ctx, index: int, total: str = "9.5", code: str | None = None) -> list[Any]:
    council = ctx.estate.councils[index]
    return [code or council.gss_code, council.name, "SE", 2019, 3, 0, 5, 1, 0, 0, total]


# --------------------------------------------------------------------------------------------
# The 2010-11 to 2014-15 Revenue Outturn workbooks
# --------------------------------------------------------------------------------------------


def _old_rs_html(p, ctx: Ctx) -> None:
    p.path(OLD_RS["2012-13"]).write_text(
        "<html><body><p>Sorry, this page has moved.</p></body></html>", "utf-8"
    )


def _old_rs_values(ctx: Ctx) -> dict:
    return {
        c.gss_code: {
            "2012-13": {
                "nre": 10000 + i,
                "schools_start": 50,
                "schools_end": 60,
                "earmarked_start": 2000,
                "earmarked_end": 2100,
                "unallocated_start": 900,
                "unallocated_end": 950,
            }
        }
        for i, c in enumerate(ctx.estate.councils[:3])
    }


def _old_rs_tab_renamed(p, ctx: Ctx) -> None:
    path = p.path(OLD_RS["2012-13"])
    write_old_rs_workbook(path, "2012-13", ctx.estate, _old_rs_values(ctx))
    # Rewrite it with the second tab under another name.
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("RS LA Data 2012-13 (1)").write(5, 0, "E-code")
    book.add_worksheet("Reserves at 31 March").write(5, 0, "E-code")
    book.close()


def _old_rs_out_of_line(p, ctx: Ctx) -> None:
    """Tab (2) lists the councils in another order than tab (1)."""
    path = p.path(OLD_RS["2012-13"])
    values = _old_rs_values(ctx)
    write_old_rs_workbook(path, "2012-13", ctx.estate, values)
    councils = ctx.estate.councils[:3]
    book = xlsxwriter.Workbook(str(path))
    for tab, order in (("(1)", councils), ("(2)", list(reversed(councils)))):
        sheet = book.add_worksheet(f"RS LA Data 2012-13 {tab}")
        sheet.write(0, 0, "Revenue Outturn Summary (RS): 2012-13 data")
        sheet.write(4, 4, "Financial reserves levels at 1 April 2012")
        for column, text in enumerate(["E-code", "Local authority", None, "Class"]):
            if text:
                sheet.write(5, column, text)
        for i, council in enumerate(order):
            sheet.write(7 + i, 0, council.ecode)
            sheet.write(7 + i, 1, council.name)
    book.close()
    ctx.notes["first"], ctx.notes["second"] = councils[0].ecode, councils[-1].ecode


def _old_rs_rows(p, ctx: Ctx) -> None:
    write_old_rs_workbook(p.path(OLD_RS["2012-13"]), "2012-13", ctx.estate, _old_rs_values(ctx))


def _old_rs_rows_also(p, ctx: Ctx) -> None:
    rows = p.dicts(
        "SELECT * FROM validated.revenue_outturn WHERE period = '2012-13' "
        "ORDER BY source_row_number"
    )
    assert [r["source_row_number"] for r in rows] == [8, 9, 10]  # row 7, blank, is layout
    first = rows[0]
    assert first["net_revenue_expenditure"] == 10000
    assert (first["unallocated_reserves_start"], first["unallocated_reserves_end"]) == (900, 950)
    assert (first["earmarked_reserves_start"], first["earmarked_reserves_end"]) == (2000, 2100)
    assert first["code_resolved_by"] == "ecode" and first["public_health_reserves_end"] is None


FINANCE_CASES: dict[str, Case] = {
    # ---- Finance metrics JSON ------------------------------------------------------------------
    "finance JSON rows lost after the hash was made": Case(
        "la_finance_metrics", _fm_wrong_hash, fails="the file is not whole"
    ),
    "finance JSON without its checksum": Case(
        "la_finance_metrics",
        _fm_no_hash,
        fails="no checksum at 'data.metadata.hash': cannot tell whether the file is whole",
    ),
    "finance JSON without its header row": Case(
        "la_finance_metrics", _fm_headless, fails="it is not a header (is the header row missing?)"
    ),
    "finance JSON missing a column": Case(
        "la_finance_metrics",
        _fm_without("Gross Borrowing"),
        fails="missing required column(s): gross_borrowing (^gross borrowing$)",
    ),
    "finance JSON row cut short": Case(
        "la_finance_metrics",
        _fm_short_row,
        fails="row 3 of 'data.values' has 21 of the header's 22 cells",
    ),
    "finance JSON unknown codes": Case(
        "la_finance_metrics",
        _fm_rows(
            lambda c: _fm_record(c, 0),
            lambda c: _fm_record(c, 1, ONS="E07999999", **{"LA Code": "E9999"}),
        ),
        quarantined=(
            Q(3, "council_code", "council code in register", "E07999999", NOT_IN_REGISTER),
        ),
        raw_delta=2,
    ),
    "finance JSON negative borrowing": Case(
        "la_finance_metrics",
        _fm_rows(lambda c: _fm_record(c, 0, **{"Gross Borrowing": "-5000"})),
        quarantined=(Q(2, "gross_borrowing", "schema", "-5000.0", "greater_than_or_equal_to(0)"),),
        raw_delta=1,
    ),
    "finance JSON a year in the future": Case(
        "la_finance_metrics",
        _fm_rows(lambda c: _fm_record(c, 0), lambda c: _fm_record(c, 1, Year="209903")),
        quarantined=(Q(3, "year_end", "schema", "209903", FUTURE),),
        raw_delta=2,
    ),
    "finance JSON not-reported markers": Case(
        "la_finance_metrics",
        _fm_rows(
            lambda c: _fm_record(
                c, 0, NRE="#N/A", CFR="[x]", Interest="#VALUE!", Reserves="0", Grants="0"
            )
        ),
        raw_delta=1,
        also=_fm_markers_also,
    ),
    "finance JSON a police body": Case(
        "la_finance_metrics",
        _fm_rows(lambda c: _fm_record(c, 0), lambda c: _fm_record(c, 1, Class="Police")),
        quarantined=(
            Q(3, "(row)", "in scope", None, OUT_OF_SCOPE_BODY, disposition="out_of_scope"),
        ),
        raw_delta=2,
    ),
    # ---- Core spending power -------------------------------------------------------------------
    "spending power in pounds": Case(
        "core_spending_power",
        _csp_rows(lambda c: _csp_row(c, 0), lambda c: _csp_row(c, 1, total="9500000")),
        quarantined=(
            Q(3, "core_spending_power", "schema", "9500000.0", "less_than_or_equal_to(5000.0)"),
        ),
        raw_delta=2,
    ),
    "spending power renamed column": Case(
        "core_spending_power",
        _csp_rows(lambda c: _csp_row(c, 0), header=[*CSP_HEADER[:-1], "total"]),
        fails="missing required column(s): core_spending_power (^total_spend$)",
    ),
    "spending power fire authority": Case(
        "core_spending_power",
        _csp_rows(lambda c: _csp_row(c, 0), lambda c: _csp_row(c, 1, code="E31000001")),
        quarantined=(
            Q(
                3,
                "council_code",
                "council code in register",
                "E31000001",
                NOT_A_COUNCIL,
                disposition="out_of_scope",
            ),
        ),
        raw_delta=2,
    ),
    # ---- Revenue Outturn .xls ------------------------------------------------------------------
    "old outturn .xls that is a web page": Case(
        "revenue_outturn",
        _old_rs_html,
        file=OLD_RS["2012-13"],
        fails="the file is HTML or XML text",
    ),
    "old outturn second tab renamed": Case(
        "revenue_outturn",
        _old_rs_tab_renamed,
        file=OLD_RS["2012-13"],
        fails="sheet 'RS LA Data 2012-13 (2)' not found",
    ),
    "old outturn tabs out of line": Case(
        "revenue_outturn",
        _old_rs_out_of_line,
        file=OLD_RS["2012-13"],
        fails="sheets 'RS LA Data 2012-13 (1)' and 'RS LA Data 2012-13 (2)' do not line up: "
        "on row 8, 'E-code' is '{first}' in the first and '{second}' in the second",
    ),
    "old outturn rows land under a blank row": Case(
        "revenue_outturn",
        _old_rs_rows,
        file=OLD_RS["2012-13"],
        raw_delta=3,
        also=_old_rs_rows_also,
    ),
}


@pytest.mark.parametrize("name", list(FINANCE_CASES), ids=list(FINANCE_CASES))
def test_finance_corpus_case(name, fictional, estate, rs_values, s114_rows, xlsx_cells):
    run_case(FINANCE_CASES[name], fictional, estate, rs_values, s114_rows, xlsx_cells)


def test_the_hash_is_of_the_compact_rows():
    """The synthetic writer hashes as the publisher does, so a case with a true hash loads."""
    rows = [["Year", "ONS"], ["202003", "E07900001"]]
    digest = hashlib.md5(b'[["Year","ONS"],["202003","E07900001"]]').hexdigest()
    assert la_metrics_document(rows)["data"]["metadata"]["hash"] == digest
