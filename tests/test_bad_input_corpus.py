"""The bad-input corpus: one row of `CASES` per way a real source file goes wrong, across every
source in pipelines/sources.yaml.

Each case takes a private copy of the materialised fictional estate (`fictional`), breaks one
file, re-materialises that source's raw and validated assets through Dagster and asserts the
exact outcome, which is one of:

- **structural**: the raw asset fails with a message naming the file (its resolved path) and
  the reason (line, column or sheet where there is one); nothing is loaded, nothing downstream
  is rebuilt, the raw layer and the validated table are as before;
- **row level**: the run succeeds and `validated.quarantine` holds exactly the expected rows
  (file, row, column, check, value, disposition, reason) and nothing else for that source, and
  raw = validated + quarantined (per load, through the asset's metadata and check, and in the
  warehouse tables).

tests/test_bad_input.py holds 20 earlier cases (9 structural, 11 row level); these are others.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import pytest
import xlsxwriter

from assets.raw import build_raw_asset
from checks.schemas.audit import FINDING_TYPES
from checks.schemas.common import ANY_GSS, URL
from checks.schemas.notes import CATEGORIES
from pipelines.catalogue import load_catalogue
from pipelines.definitions import all_assets
from pipelines.synthetic import RS_FILES, Estate

REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
NAME_CSV = "sources/mysociety_la_codes/lookup_name_to_registry.csv"
GSS_CSV = "sources/mysociety_la_codes/lookup_gss_to_registry.csv"
DE_CSV = "sources/oflog_asc/ASC_data.csv"
NN_JSON = "sources/oflog_asc/NN.json"
RS = {year: f"sources/bbc_council_reserves/{name}" for year, name in RS_FILES.items()}
RS_SHEET = "RS LA Data {}"
CT_XLSX = "sources/ct_receipts/CT_Receipts_Live_Table_Q4_2022-23.xlsx"
CT_SHEET = "Table_5"
S114_CSV = "sources/registers/section114_notices.csv"
IV_CSV = "sources/registers/interventions_seen.csv"
AUDIT_CSV = "sources/registers/audit_findings.csv"
PC_CSV = "sources/registers/peer_challenges.csv"
NOTES_CSV = "sources/registers/analyst_notes.csv"
REGISTER_CHAIN = [
    "raw/council_register",
    "validated/council_register",
    "raw/council_gss_lookup",
    "validated/council_gss_lookup",
    "validated/council_code_map",
]
HUGE_ROWS = 200_000

FORMULA_ERROR = "spreadsheet formula error in the cell"
NOT_IN_REGISTER = "council code missing, or not in the register (nor a former code)"
NOT_A_COUNCIL = "not an English council (a total, region or other body)"
NO_CODE_NO_NAME = (
    "no council code, and the council name matches no English council in the register's name "
    "lookup (exactly, nor once 'Council', 'Borough of' and the like are set aside), or matches "
    "more than one"
)
FUTURE_DE = "period ends no later than 31 March of the financial year after the file's load"
FUTURE_RS = "the year has ended by the day the file was loaded"
PCT_RANGE = "value within the metric's plausible range (pipelines/metrics.yaml)"
DELIMITER_HINT = "the header is one column, so the file may use another delimiter"
# A row-level check's failure value is the whole row as JSON; compared as this marker once its
# row number is checked.
ROW = "<the row>"


# --------------------------------------------------------------------------------------------
# The table's vocabulary
# --------------------------------------------------------------------------------------------


class Q(NamedTuple):
    """One expected quarantine entry (`path` defaults to the source's first file)."""

    row: int
    column: str
    check: str
    value: str | None
    reason: str
    disposition: str = "rejected"
    path: str | None = None
    source_column: str | None = None


@dataclass
class Ctx:
    """What a case's functions may use: the estate and its known figures, the independent
    workbook reader, and anything the break wants to hand to the extra assertions."""

    estate: Estate
    rs_values: dict
    s114_rows: list[list[str]]
    xlsx_cells: Callable[[Path, str], dict[tuple[int, int], Any]]
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    source: str
    breaks: Callable[[Any, Ctx], None]
    # Structural: the raw asset fails with this text in its message, naming `file`.
    fails: str | None = None
    file: str | None = None
    # Row level: exactly these quarantine entries are added (a callable when they depend on
    # the estate), and the raw rows change by `raw_delta` (a callable likewise).
    quarantined: tuple[Q, ...] | Callable[[Ctx], list[Q]] = ()
    raw_delta: int | Callable[[Ctx], int] = 0
    also: Callable[[Any, Ctx], None] | None = None
    with_register: bool = False
    assets: Callable[[], list] | None = None


# --------------------------------------------------------------------------------------------
# Ways to break a file
# --------------------------------------------------------------------------------------------


def rows_of(p, relative: str) -> list[list[str]]:
    return p.read_csv(relative)


def write_rows(p, relative: str, rows: list[list[Any]], **kw: Any) -> None:
    p.write_csv(relative, rows, **kw)


def write_delimited(p, relative: str, rows: list[list[str]], delimiter: str) -> None:
    with p.path(relative).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)


def column(rows: list[list[str]], header: str) -> int:
    return rows[0].index(header)


def de_line(rows: list[list[str]], year: str, metric: str, code: str) -> int:
    """The index (= line number - 1) of one Data Explorer row, found by its content."""
    y, m, c = (column(rows, h) for h in ("Financial year", "Code", "Local authority code"))
    hits = [i for i, r in enumerate(rows) if i and (r[y], r[m], r[c]) == (year, metric, code)]
    assert len(hits) == 1, hits
    return hits[0]


def edit_de(change: Callable[[list[list[str]], Ctx], None]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        rows = rows_of(p, DE_CSV)
        change(rows, ctx)
        write_rows(p, DE_CSV, rows)

    return breaks


def social_care(ctx: Ctx, index: int) -> str:
    codes = [c.gss_code for c in ctx.estate.councils if c.authority_type != "NMD"]
    return codes[index]


class Err(str):
    """A cell holding a formula error, stored the way Excel stores one (t="e")."""


FORMULAS = {"#DIV/0!": "=1/0", "#REF!": "=#REF!", "#VALUE!": '="a"+1', "#N/A": "=NA()"}


def sheet_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/workbook.xml").decode("utf-8")
    import re

    return re.findall(r'<sheet [^>]*name="([^"]+)"', xml)


def rewrite_sheet(
    path: Path,
    sheet: str,
    ctx: Ctx,
    change: Callable[[dict[tuple[int, int], Any]], None] = lambda cells: None,
    shift: int = 0,
) -> None:
    """Rewrite one sheet of a workbook from its cells (read independently), after `change`
    edits them, `shift` rows lower; the other sheets are kept by name (empty)."""
    cells = dict(ctx.xlsx_cells(path, sheet))
    change(cells)
    names = sheet_names(path)
    path.unlink()
    book = xlsxwriter.Workbook(str(path))
    for name in names:
        target = book.add_worksheet(name)
        if name != sheet:
            continue
        for (row, col), value in sorted(cells.items()):
            r, c = row - 1 + shift, col - 1
            if isinstance(value, Err):
                target.write_formula(r, c, FORMULAS[value], None, str(value))
            elif isinstance(value, str):
                target.write_string(r, c, value)
            elif value is not None:
                target.write_number(r, c, value)
    book.close()


def ct_row(ctx: Ctx, gss: str) -> int:
    cells = ctx.xlsx_cells(Path(ctx.notes["data_dir"]) / CT_XLSX, CT_SHEET)
    rows = [r for (r, c), v in cells.items() if c == 2 and v == gss]
    assert len(rows) == 1
    return rows[0]


def ct_header(ctx: Ctx, col: int) -> str:
    return str(ctx.xlsx_cells(Path(ctx.notes["data_dir"]) / CT_XLSX, CT_SHEET)[(6, col)])


def truncate_last_line(p, relative: str, keep_fields: int) -> tuple[int, int]:
    """Cut the file inside its last line, after `keep_fields` fields and two more characters,
    as a copy interrupted mid-write leaves it. Returns (that line's number, its fields)."""
    text = p.path(relative).read_text(encoding="utf-8").rstrip("\n")
    head, _, last = text.rpartition("\n")
    cut = last.split(",")
    kept = ",".join(cut[:keep_fields]) + "," + cut[keep_fields][:2]
    p.path(relative).write_text(head + "\n" + kept, encoding="utf-8")
    record = next(csv.reader(io.StringIO(kept)))
    return head.count("\n") + 2, len(record)


# Analysts' registers: complete, valid rows that a case then spoils one field of.


def audit_row(council: str, **change: str) -> dict[str, str]:
    row = {
        "council_code": council,
        "council_name": "Fictional council",
        "financial_year": "2017-18",
        "finding_type": "vfm_significant_weakness",
        "opinion": "",
        "disclaimer_reason": "",
        "vfm_criterion": "governance",
        "recommendation_tier": "",
        "finding_date": "2018-09-30",
        "published_date": "2018-10-15",
        "auditor": "Fictional Audit LLP",
        "summary": "fictional",
        "source_url": "https://example.org/audit",
    }
    return {**row, **change}


def write_dicts(p, relative: str, records: list[dict[str, str]]) -> None:
    header = rows_of(p, relative)[0]
    extra = [k for k in records[0] if k not in header] if records else []
    write_rows(
        p, relative, [header + extra] + [[r.get(h, "") for h in header + extra] for r in records]
    )


def audit_rows(*spoiled: dict[str, str]) -> Callable[[Any, Ctx], None]:
    """Three valid findings (lines 2-4) and then the spoiled ones (from line 5)."""

    def breaks(p, ctx: Ctx) -> None:
        codes = [c.gss_code for c in ctx.estate.councils]
        valid = [
            audit_row(codes[0]),
            audit_row(
                codes[1], finding_type="audit_opinion", vfm_criterion="", opinion="qualified"
            ),
            audit_row(
                codes[2], finding_type="recommendation", vfm_criterion="", recommendation_tier="key"
            ),
        ]
        write_dicts(p, AUDIT_CSV, valid + [audit_row(codes[3], **s) for s in spoiled])

    return breaks


def challenge_row(council: str, **change: str) -> dict[str, str]:
    row = {
        "council_code": council,
        "council_name": "Fictional council",
        "challenge_date": "2018-02-01",
        "report_published_date": "2018-04-01",
        "action_plan_published_date": "2018-06-01",
        "progress_review_date": "2019-03-01",
        "source_url": "https://example.org/cpc",
    }
    return {**row, **change}


def note_row(council: str, **change: str) -> dict[str, str]:
    row = {
        "council_code": council,
        "council_name": "Fictional council",
        "note_date": "2018-06-01",
        "category": "leadership",
        "note": "Chief executive left suddenly",
        "shareable": "yes",
        "recorded_by": "analyst A",
    }
    return {**row, **change}


def notes(*spoiled: dict[str, str]) -> Callable[[Any, Ctx], None]:
    """Two valid notes (lines 2-3) and then the spoiled ones (from line 4)."""

    def breaks(p, ctx: Ctx) -> None:
        codes = [c.gss_code for c in ctx.estate.councils]
        valid = [note_row(codes[0]), note_row(codes[1], shareable="no", category="media")]
        write_dicts(p, NOTES_CSV, valid + [note_row(codes[2], **s) for s in spoiled])

    return breaks


def intervention_rows(p, ctx: Ctx, rows: list[list[str]]) -> None:
    header = rows_of(p, IV_CSV)[0]
    write_rows(p, IV_CSV, [header, *rows])


# --------------------------------------------------------------------------------------------
# Cases that need more than a one-liner
# --------------------------------------------------------------------------------------------


def _de_truncated(p, ctx: Ctx) -> None:
    line, fields = truncate_last_line(p, DE_CSV, keep_fields=8)
    ctx.notes["expected"] = f"line {line} has {fields} of the header's 12 fields"


def _de_ambiguous(rows: list[list[str]], ctx: Ctx) -> None:
    v = column(rows, "Value")
    for row in rows:
        row.append(row[v])
    rows[0][-1] = " VALUE "


def _de_optional_columns_missing(p, ctx: Ctx) -> None:
    rows = rows_of(p, DE_CSV)
    drop = [column(rows, h) for h in ("MEDIAN", "MADs_from_median", "rank_order")]
    write_rows(p, DE_CSV, [[v for i, v in enumerate(r) if i not in drop] for r in rows])


def _de_optional_columns_missing_also(p, ctx: Ctx) -> None:
    assert p.scalar("SELECT count(*) FROM validated.data_explorer_metrics") == 840
    assert (
        p.scalar(
            "SELECT count(*) FROM validated.data_explorer_metrics "
            "WHERE published_median IS NOT NULL OR rank_order IS NOT NULL"
        )
        == 0
    )


def _de_text(rows: list[list[str]], ctx: Ctx) -> None:
    v = column(rows, "Value")
    rows[de_line(rows, "2016-17", "ASC3", social_care(ctx, 0))][v] = "45%"
    rows[de_line(rows, "2017-18", "ASC1", social_care(ctx, 1))][v] = "about 7"


def _de_text_expected(ctx: Ctx) -> list[Q]:
    rows = ctx.notes["rows"]
    return [
        Q(
            de_line(rows, "2016-17", "ASC3", social_care(ctx, 0)) + 1,
            "value",
            "parse as Float64",
            "45%",
            "not a valid Float64",
        ),
        Q(
            de_line(rows, "2017-18", "ASC1", social_care(ctx, 1)) + 1,
            "value",
            "parse as Float64",
            "about 7",
            "not a valid Float64",
        ),
    ]


def _de_markers(rows: list[list[str]], ctx: Ctx) -> None:
    v = column(rows, "Value")
    for i, marker in enumerate(["..", "", "[x]", "-"]):
        rows[de_line(rows, "2019-20", "ASC5", social_care(ctx, i))][v] = marker


def _de_markers_also(p, ctx: Ctx) -> None:
    codes = [social_care(ctx, i) for i in range(4)]
    states = p.query(
        "SELECT council_code, value, value_state FROM validated.data_explorer_metrics "
        "WHERE financial_year = '2019-20' AND metric_id = 'ASC5' "
        "AND list_contains(?, council_code)",
        [codes],
    )
    assert sorted(states) == sorted((c, None, "not reported") for c in codes)


def _de_value(year: str, metric: str, index: int, value: str) -> Callable[[Any, Ctx], None]:
    def change(rows: list[list[str]], ctx: Ctx) -> None:
        rows[de_line(rows, year, metric, social_care(ctx, index))][column(rows, "Value")] = value

    return edit_de(change)


def _de_value_expected(year: str, metric: str, index: int, value: str) -> Callable[[Ctx], list[Q]]:
    def expected(ctx: Ctx) -> list[Q]:
        line = de_line(ctx.notes["rows"], year, metric, social_care(ctx, index)) + 1
        return [Q(line, "value", "schema", value, PCT_RANGE)]

    return expected


def _next_financial_year(today: date) -> str:
    start = today.year if today.month >= 4 else today.year - 1
    return f"{start + 1}-{(start + 2) % 100:02d}"


def _de_future(rows: list[list[str]], ctx: Ctx) -> None:
    y = column(rows, "Financial year")
    rows[de_line(rows, "2020-21", "ASC2", social_care(ctx, 2))][y] = "2031-32"
    # The financial year after this one is allowed: budget-based figures are published ahead.
    rows[de_line(rows, "2020-21", "ASC2", social_care(ctx, 3))][y] = _next_financial_year(
        date.today()
    )


def _de_future_expected(ctx: Ctx) -> list[Q]:
    line = de_line(ctx.notes["rows"], "2031-32", "ASC2", social_care(ctx, 2)) + 1
    return [Q(line, "financial_year", "schema", "2031-32", FUTURE_DE)]


def _de_future_also(p, ctx: Ctx) -> None:
    [(loaded,)] = p.query(
        "SELECT max(loaded_at) FROM raw.loads WHERE source_id = 'data_explorer_metrics'"
    )
    next_year = _next_financial_year(loaded.date())
    assert p.query(
        "SELECT council_code FROM validated.data_explorer_metrics WHERE financial_year = ?",
        [next_year],
    ) == [(social_care(ctx, 3),)]


def _de_duplicate_key(rows: list[list[str]], ctx: Ctx) -> None:
    twin = list(rows[de_line(rows, "2018-19", "ASC4", social_care(ctx, 4))])
    twin[column(rows, "Value")] = "12.5"
    rows.append(twin)


def _de_duplicate_key_expected(ctx: Ctx) -> list[Q]:
    rows = ctx.notes["rows"]
    first = de_line(rows[:-1], "2018-19", "ASC4", social_care(ctx, 4)) + 1
    return [
        Q(line, "(row)", "schema", ROW, "multiple_fields_uniqueness") for line in (first, len(rows))
    ]


def _de_england_row(rows: list[list[str]], ctx: Ctx) -> None:
    total = list(rows[1])
    total[column(rows, "Local authority code")] = "E92000001"
    total[column(rows, "Local authority name")] = "England"
    rows.append(total)


def _de_padded_codes(rows: list[list[str]], ctx: Ctx) -> None:
    c = column(rows, "Local authority code")
    line = de_line(rows, "2021-22", "ASC7", social_care(ctx, 5))
    rows[line][c] = f"  {rows[line][c].lower()} "


def _de_padded_codes_also(p, ctx: Ctx) -> None:
    code = social_care(ctx, 5)
    assert p.query(
        "SELECT council_code, source_council_code FROM validated.data_explorer_metrics "
        "WHERE financial_year = '2021-22' AND metric_id = 'ASC7' AND council_code = ?",
        [code],
    ) == [(code, code)]


def _de_crlf_bom(p, ctx: Ctx) -> None:
    text = p.path(DE_CSV).read_text(encoding="utf-8").replace("\n", "\r\n")
    p.path(DE_CSV).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def _de_inconsistent_year(rows: list[list[str]], ctx: Ctx) -> None:
    rows[de_line(rows, "2016-17", "ASC6", social_care(ctx, 6))][column(rows, "Financial year")] = (
        "2016-18"
    )


def _de_not_numbers(rows: list[list[str]], ctx: Ctx) -> None:
    v = column(rows, "Value")
    rows[de_line(rows, "2020-21", "ASC1", social_care(ctx, 7))][v] = "NaN"
    rows[de_line(rows, "2020-21", "ASC6", social_care(ctx, 8))][v] = "inf"


def _de_not_numbers_expected(ctx: Ctx) -> list[Q]:
    rows = ctx.notes["rows"]
    return [
        Q(de_line(rows, "2020-21", metric, social_care(ctx, i)) + 1, "value",
          "parse as Float64", text, "not a valid Float64")
        for metric, i, text in (("ASC1", 7, "NaN"), ("ASC6", 8, "inf"))
    ]  # fmt: skip


def _de_huge(p, ctx: Ctx) -> None:
    """200,000 rows: 25 councils x 8,000 fictional metrics (not in metrics.yaml, so not range
    checked), plus two bad rows in the middle."""
    header = rows_of(p, DE_CSV)[0]
    codes = [c.gss_code for c in ctx.estate.councils[:25]]
    started = time.perf_counter()
    with p.path(DE_CSV).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for m in range(HUGE_ROWS // len(codes)):
            for code in codes:
                writer.writerow(
                    [
                        "2019-20",
                        code,
                        "Fictional",
                        "LA_Raw",
                        "",
                        "",
                        f"Synthetic {m}",
                        f"SYN{m:05d}",
                        f"{(m * 7 + len(code)) % 1000 / 10:.1f}",
                        "",
                        "",
                        "",
                    ]
                )
    rows = rows_of(p, DE_CSV)
    rows[100_001][column(rows, "Value")] = "n.a"  # line 100,002
    rows[150_001][column(rows, "Local authority code")] = "E08999999"  # line 150,002
    write_rows(p, DE_CSV, rows)
    ctx.notes["started"] = started


def _de_huge_also(p, ctx: Ctx) -> None:
    seconds = time.perf_counter() - ctx.notes["started"]
    print(
        f"\nhuge Data Explorer file: {HUGE_ROWS} rows written, loaded, validated in {seconds:.1f} s"
    )
    assert (
        p.scalar(
            "SELECT count(*) FROM raw.data_explorer_metrics r "
            "JOIN raw.current_loads c USING (load_id)"
        )
        == HUGE_ROWS
    )


def _rs_in_pounds(p, ctx: Ctx) -> None:
    values = {
        code: {y: {k: v * 1000 for k, v in figures.items()} for y, figures in years.items()}
        for code, years in ctx.rs_values.items()
    }
    p.write_rs("2016-17", ctx.estate, values)


def _rs_in_pounds_expected(ctx: Ctx) -> list[Q]:
    """Every figure past £5bn once read as £000: the signed balances' range, or the ceiling
    of the balances that cannot be negative."""
    limit = 5_000_000
    names = {
        "nre": "net_revenue_expenditure",
        **{
            f"{k}_{w}": f"{k}_reserves_{w}"
            for k in ("schools", "public_health", "earmarked", "unallocated")
            for w in ("start", "end")
        },
    }
    signed = {"nre", "schools_start", "schools_end", "public_health_start", "public_health_end"}
    out = []
    for i, council in enumerate(ctx.estate.councils):
        for key, value in ctx.rs_values[council.gss_code]["2016-17"].items():
            pounds = value * 1000
            if abs(pounds) <= limit:
                continue
            reason = (
                f"in_range(-{limit}, {limit})"
                if key in signed
                else f"less_than_or_equal_to({limit})"
            )
            out.append(
                Q(8 + i, names[key], "schema", str(float(pounds)), reason, path=RS["2016-17"])
            )
    assert len({q.row for q in out}) == len(ctx.estate.councils)  # every row, by construction
    return out


def _rs_future_assets() -> list:
    """The code location's assets with the catalogue saying the 2017-18 workbook is 2031-32."""
    spec = load_catalogue()["revenue_outturn"]
    files = tuple(replace(f, period="2031-32") if f.period == "2017-18" else f for f in spec.files)
    raw = build_raw_asset(replace(spec, files=files))
    return [a for a in all_assets if dg.AssetKey(["raw", "revenue_outturn"]) not in a.keys] + [raw]


def _rs_future(p, ctx: Ctx) -> None:
    values = {code: {y: dict(f) for y, f in years.items()} for code, years in ctx.rs_values.items()}
    values[ctx.estate.councils[0].gss_code]["2017-18"]["nre"] += 1  # new bytes: a new load
    p.write_rs("2017-18", ctx.estate, values)


def _rs_future_expected(ctx: Ctx) -> list[Q]:
    return [
        Q(8 + i, "period", "schema", "2031-32", FUTURE_RS, path=RS["2017-18"])
        for i in range(len(ctx.estate.councils))
    ]


def _rs_formula_errors(p, ctx: Ctx) -> None:
    def change(cells: dict) -> None:
        cells[(9, 7)] = Err("#DIV/0!")  # G9: net revenue expenditure of council 2
        cells[(10, 11)] = Err("#REF!")  # K10: unallocated reserves at 1 April, council 3
        cells[(11, 6)] = Err("#N/A")  # F11: education services, a column the pipeline keeps

    rewrite_sheet(p.path(RS["2016-17"]), RS_SHEET.format("2016-17"), ctx, change)


def _rs_formula_errors_also(p, ctx: Ctx) -> None:
    [(extra,)] = p.query(
        "SELECT r.extra FROM raw.revenue_outturn r JOIN raw.current_loads c USING (load_id) "
        "WHERE r.source_path = ? AND r.source_row_number = 11",
        [RS["2016-17"]],
    )
    assert json.loads(extra)["Education services"] == "#N/A"


def _rs_missing_ecode(p, ctx: Ctx) -> None:
    rewrite_sheet(
        p.path(RS["2015-16"]), RS_SHEET.format("2015-16"), ctx, lambda cells: cells.pop((12, 1))
    )
    council = ctx.estate.councils[4]
    ctx.notes["expected"] = (
        f"row 12 has no 'E-code', which ends the table, but {len(ctx.estate.councils) - 4} "
        f"row(s) from there on hold a council code (first: row 12, '{council.gss_code}')"
    )


def _ct_header_lower(p, ctx: Ctx) -> None:
    rewrite_sheet(p.path(CT_XLSX), CT_SHEET, ctx, shift=1)


def _ct_formula_errors(p, ctx: Ctx) -> None:
    ctx.notes["data_dir"] = str(p.data_dir)
    a, b = (ct_row(ctx, c.gss_code) for c in ctx.estate.councils[2:4])
    ctx.notes["cells"] = [(a, ct_header(ctx, 6), "#DIV/0!"), (b, ct_header(ctx, 7), "#VALUE!")]

    def change(cells: dict) -> None:
        cells[(a, 6)] = Err("#DIV/0!")
        cells[(b, 7)] = Err("#VALUE!")

    rewrite_sheet(p.path(CT_XLSX), CT_SHEET, ctx, change)


def _ct_formula_errors_expected(ctx: Ctx) -> list[Q]:
    return [
        Q(
            row,
            "receipts",
            "parse as Float64",
            value,
            FORMULA_ERROR,
            path=CT_XLSX,
            source_column=header,
        )
        for row, header, value in ctx.notes["cells"]
    ]


def _ct_in_pounds(p, ctx: Ctx) -> None:
    ctx.notes["data_dir"] = str(p.data_dir)
    row = ct_row(ctx, ctx.estate.councils[5].gss_code)
    ctx.notes["cell"] = (row, ct_header(ctx, 8))
    rewrite_sheet(
        p.path(CT_XLSX), CT_SHEET, ctx, lambda cells: cells.update({(row, 8): 17_000_000.0})
    )


def _ct_in_pounds_expected(ctx: Ctx) -> list[Q]:
    row, header = ctx.notes["cell"]
    return [
        Q(
            row,
            "receipts",
            "schema",
            "17000000.0",
            "less_than_or_equal_to(5000000)",
            path=CT_XLSX,
            source_column=header,
        )
    ]


def _truncate_bytes(relative: str) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        payload = p.path(relative).read_bytes()
        p.path(relative).write_bytes(payload[: len(payload) // 2])

    return breaks


def _register_change(change: Callable[[list[list[str]], Ctx], None]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        rows = rows_of(p, REGISTER_CSV)
        change(rows, ctx)
        write_rows(p, REGISTER_CSV, rows)

    return breaks


def _register_title_line(rows: list[list[str]], ctx: Ctx) -> None:
    rows.insert(0, ["Fictional register of councils"] + [""] * (len(rows[0]) - 1))


def _register_dates(start: str, end: str, replaced_by: str) -> Callable:
    def change(rows: list[list[str]], ctx: Ctx) -> None:
        h = rows[0]
        rows[7][h.index("start-date")] = start  # line 8
        rows[7][h.index("end-date")] = end
        rows[7][h.index("replaced-by")] = replaced_by

    return change


def _register_blank_line_also(p, ctx: Ctx) -> None:
    """Line 6 is layout: the rows keep their true line numbers around it."""
    lines = [r[0] for r in p.query("SELECT source_row_number FROM validated.council_register")]
    n = len(ctx.estate.councils)
    assert sorted(lines) == [*range(2, 6), *range(7, n + 3)]


def _register_welsh(rows: list[list[str]], ctx: Ctx) -> None:
    h = rows[0]
    welsh = list(rows[1])
    for name, value in {
        "local-authority-code": "CRF",
        "gss-code": "W06000015",
        "nation": "Wales",
        "official-name": "Cardiff Council",
        "nice-name": "Cardiff",
        "region": "",
        "ecode": "",
    }.items():
        welsh[h.index(name)] = value
    rows.append(welsh)


def _abolished(p, ctx: Ctx) -> None:
    """Council 5 (a district) was abolished on 31 March 2019, succeeded by council 6; a
    notice dated while it existed uses its own code."""
    gone, successor = ctx.estate.councils[4], ctx.estate.councils[5]

    def change(rows: list[list[str]], c: Ctx) -> None:
        h = rows[0]
        line = next(i for i, r in enumerate(rows) if r[h.index("gss-code")] == gone.gss_code)
        rows[line][h.index("end-date")] = "2019-03-31"
        rows[line][h.index("replaced-by")] = successor.register_code

    _register_change(change)(p, ctx)
    p.write_s114(
        [
            *ctx.s114_rows,
            [
                gone.gss_code,
                gone.name,
                "2018-06-01",
                "day",
                "1",
                "",
                "https://example.org/s114",
                "q",
            ],
        ]
    )


def _abolished_also(p, ctx: Ctx) -> None:
    gone = ctx.estate.councils[4]
    assert p.quarantine("council_register") == []
    assert p.query(
        "SELECT council_code, source_council_code, notice_date FROM validated.section114_notices "
        "WHERE source_row_number = 7"
    ) == [(gone.gss_code, gone.gss_code, date(2018, 6, 1))]
    assert p.query(
        "SELECT end_date, is_current FROM validated.council_register WHERE gss_code = ?",
        [gone.gss_code],
    ) == [(date(2019, 3, 31), False)]


def _nn_json(change: Callable[[str, Ctx], str]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        text = p.path(NN_JSON).read_text(encoding="utf-8")
        p.path(NN_JSON).write_text(change(text, ctx), encoding="utf-8")

    return breaks


def _nn_position(ctx: Ctx, code: str) -> int:
    return list(json.loads(ctx.notes["nn"])).index(code) + 1


def _nn_duplicate(text: str, ctx: Ctx) -> str:
    ctx.notes["nn"] = text
    code = social_care(ctx, 0)
    other = ctx.estate.councils[-1].gss_code  # not among a county's published neighbours
    return text.rstrip().removesuffix("}") + f', "{code}": ["{code}", "{other}"]}}'


def _nn_duplicate_expected(ctx: Ctx) -> list[Q]:
    code = social_care(ctx, 0)
    first = _nn_position(ctx, code)
    n = len(ctx.estate.councils)
    return [Q(line, "council_code", "schema", code, "field_uniqueness") for line in (first, n + 1)]


def _nn_not_a_list(text: str, ctx: Ctx) -> str:
    ctx.notes["nn"] = text
    document = json.loads(text)
    document[social_care(ctx, 1)] = "E06900001,E06900003"
    return json.dumps(document)


def _nn_not_a_list_expected(ctx: Ctx) -> list[Q]:
    line = _nn_position(ctx, social_care(ctx, 1))
    return [
        Q(line, "n_neighbours", "schema", None, "not_nullable"),
        Q(line, "(row)", "schema", ROW, "neighbour list is a JSON array of council codes"),
    ]


def _s114(change: Callable[[list[list[str]]], None]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        rows = [list(r) for r in ctx.s114_rows]
        change(rows)
        p.write_s114(rows)

    return breaks


def _iv_semicolons(p, ctx: Ctx) -> None:
    header = rows_of(p, IV_CSV)[0]
    code = ctx.estate.councils[0].gss_code
    write_delimited(
        p,
        IV_CSV,
        [
            header,
            [
                code,
                "X",
                "Best value inspection",
                "from 2019-06-01",
                "yes",
                "https://example.org/iv",
                "q",
            ],
        ],
        ";",
    )


def _iv_rows(p, ctx: Ctx) -> None:
    c = [x.gss_code for x in ctx.estate.councils]
    intervention_rows(
        p,
        ctx,
        [
            [
                c[0],
                "A",
                "Best value inspection",
                "from 2019-06-01",
                "yes",
                "https://example.org/iv",
                "q",
            ],
            [
                "",
                "B",
                "Commissioners appointed",
                "2020-02 to 2023-02",
                "yes",
                "https://example.org/iv",
                "q",
            ],
            [c[2], "C", "x", "2021-05", "yes", "https://example.org/iv", "q"],
            [c[3], "D", "Directions issued", "ongoing", "yes", "https://example.org/iv", "q"],
            [
                "E08999999",
                "E",
                "Commissioners appointed",
                "2022-01",
                "yes",
                "https://example.org/iv",
                "q",
            ],
            # No month 13: a typo, not "no stated start".
            [c[4], "F", "Directions issued", "2023-13 to 2024-01", "yes", "https://x.org/iv", "q"],
        ],
    )


def _iv_rows_also(p, ctx: Ctx) -> None:
    c = [x.gss_code for x in ctx.estate.councils]
    assert sorted(
        p.query("SELECT council_code, start_date, start_date_state FROM validated.interventions")
    ) == sorted([(c[0], date(2019, 6, 1), "stated"), (c[3], None, "not stated")])


def _audit_utf16(p, ctx: Ctx) -> None:
    audit_rows()(p, ctx)
    text = p.path(AUDIT_CSV).read_text(encoding="utf-8")
    p.path(AUDIT_CSV).write_bytes(text.encode("utf-16"))


def _audit_extra_column(p, ctx: Ctx) -> None:
    codes = [c.gss_code for c in ctx.estate.councils]
    write_dicts(p, AUDIT_CSV, [{**audit_row(codes[0]), "reviewer": "second analyst"}])


def _audit_extra_column_also(p, ctx: Ctx) -> None:
    [(extra,)] = p.query(
        "SELECT extra FROM raw.audit_findings r JOIN raw.current_loads c USING (load_id)"
    )
    assert json.loads(extra) == {"reviewer": "second analyst"}
    assert p.scalar("SELECT count(*) FROM validated.audit_findings") == 1


def _pc_rows(*records: Callable[[list[str]], dict[str, str]]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        codes = [c.gss_code for c in ctx.estate.councils]
        write_dicts(p, PC_CSV, [make(codes) for make in records])

    return breaks


def _pc_renamed(p, ctx: Ctx) -> None:
    _pc_rows(lambda c: challenge_row(c[0]))(p, ctx)
    rows = rows_of(p, PC_CSV)
    rows[0][rows[0].index("challenge_date")] = "date_of_challenge"
    write_rows(p, PC_CSV, rows)


def _notes_truncated(p, ctx: Ctx) -> None:
    notes(note_row("E06900001"))(p, ctx)
    line, fields = truncate_last_line(p, NOTES_CSV, keep_fields=3)
    ctx.notes["expected"] = f"line {line} has {fields} of the header's 7 fields"


def _name_lookup_tabs(p, ctx: Ctx) -> None:
    write_delimited(p, NAME_CSV, rows_of(p, NAME_CSV), "\t")


def _append(relative: str, row: Callable[[Ctx], list[str]]) -> Callable[[Any, Ctx], None]:
    def breaks(p, ctx: Ctx) -> None:
        write_rows(p, relative, [*rows_of(p, relative), row(ctx)])

    return breaks


def _rows_at(ctx: Ctx) -> int:
    return len(ctx.estate.councils) + 2  # the line of a row appended to a one-per-council file


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

CASES: dict[str, Case] = {
    # ---- Data Explorer metrics (CSV, long layout) -------------------------------------------
    "DE truncated mid-row": Case(
        "data_explorer_metrics", _de_truncated, fails="{expected}: the file may be truncated"
    ),
    "DE semicolon delimiter": Case(
        "data_explorer_metrics",
        lambda p, c: write_delimited(p, DE_CSV, rows_of(p, DE_CSV), ";"),
        fails=DELIMITER_HINT,
    ),
    "DE two headers match one column": Case(
        "data_explorer_metrics",
        edit_de(_de_ambiguous),
        fails="column 'value' is ambiguous: headers ['Value', ' VALUE '] all match '^value$'",
    ),
    "DE optional columns missing": Case(
        "data_explorer_metrics",
        _de_optional_columns_missing,
        also=_de_optional_columns_missing_also,
    ),
    "DE renamed column": Case(
        "data_explorer_metrics",
        edit_de(lambda rows, c: rows[0].__setitem__(1, "LA code")),
        fails="missing required column(s): council_code (^local authority code$); headers found: "
        "['Financial year', 'LA code',",
    ),
    "DE text in numeric cells": Case(
        "data_explorer_metrics", edit_de(_de_text), quarantined=_de_text_expected
    ),
    "DE not-available markers are not errors": Case(
        "data_explorer_metrics", edit_de(_de_markers), also=_de_markers_also
    ),
    "DE percentage over 100": Case(
        "data_explorer_metrics",
        _de_value("2016-17", "ASC3", 2, "134.5"),
        quarantined=_de_value_expected("2016-17", "ASC3", 2, "134.5"),
    ),
    "DE negative count (rate per 100,000)": Case(
        "data_explorer_metrics",
        _de_value("2017-18", "ASC6", 3, "-12.0"),
        quarantined=_de_value_expected("2017-18", "ASC6", 3, "-12.0"),
    ),
    "DE future period": Case(
        "data_explorer_metrics",
        edit_de(_de_future),
        quarantined=_de_future_expected,
        also=_de_future_also,
    ),
    "DE duplicate key, different values": Case(
        "data_explorer_metrics",
        edit_de(_de_duplicate_key),
        quarantined=_de_duplicate_key_expected,
        raw_delta=1,
    ),
    "DE England total row": Case(
        "data_explorer_metrics",
        edit_de(_de_england_row),
        quarantined=lambda c: [
            Q(
                842,
                "council_code",
                "council code in register",
                "E92000001",
                NOT_A_COUNCIL,
                "out_of_scope",
            )
        ],
        raw_delta=1,
    ),
    "DE padded lower-case code": Case(
        "data_explorer_metrics", edit_de(_de_padded_codes), also=_de_padded_codes_also
    ),
    "DE CRLF line endings and BOM": Case("data_explorer_metrics", _de_crlf_bom),
    "DE year not consecutive": Case(
        "data_explorer_metrics",
        edit_de(_de_inconsistent_year),
        quarantined=lambda c: [
            Q(
                de_line(c.notes["rows"], "2016-18", "ASC6", social_care(c, 6)) + 1,
                "(row)",
                "schema",
                ROW,
                "financial year names consecutive years",
            )
        ],
    ),
    "DE NaN and infinity as values": Case(
        "data_explorer_metrics",
        edit_de(_de_not_numbers),
        quarantined=_de_not_numbers_expected,
    ),
    "DE huge file (200,000 rows)": Case(
        "data_explorer_metrics",
        _de_huge,
        quarantined=lambda c: [
            Q(100_002, "value", "parse as Float64", "n.a", "not a valid Float64"),
            Q(150_002, "council_code", "council code in register", "E08999999", NOT_IN_REGISTER),
        ],
        raw_delta=HUGE_ROWS - 840,
        also=_de_huge_also,
    ),
    # ---- Revenue Outturn (workbooks, header on row 7) ----------------------------------------
    "RS whole workbook in pounds": Case(
        "revenue_outturn", _rs_in_pounds, quarantined=_rs_in_pounds_expected
    ),
    "RS future period": Case(
        "revenue_outturn",
        _rs_future,
        quarantined=_rs_future_expected,
        assets=_rs_future_assets,
    ),
    "RS formula errors (#DIV/0!, #REF!, #N/A)": Case(
        "revenue_outturn",
        _rs_formula_errors,
        quarantined=(
            Q(
                9,
                "net_revenue_expenditure",
                "parse as Float64",
                "#DIV/0!",
                FORMULA_ERROR,
                path=RS["2016-17"],
            ),
            Q(
                10,
                "unallocated_reserves_start",
                "parse as Float64",
                "#REF!",
                FORMULA_ERROR,
                path=RS["2016-17"],
            ),
        ),
        also=_rs_formula_errors_also,
    ),
    "RS council row missing its E-code": Case(
        "revenue_outturn", _rs_missing_ecode, fails="{expected}", file=RS["2015-16"]
    ),
    # ---- Council tax receipts (workbook, one column per quarter) -----------------------------
    "CT header on the wrong row": Case(
        "council_tax_receipts",
        _ct_header_lower,
        fails="missing required column(s): ecode (^e-code$), council_code (^ons code$), "
        "council_name (^local authority$), authority_class (^class$)",
    ),
    "CT formula errors in receipts": Case(
        "council_tax_receipts", _ct_formula_errors, quarantined=_ct_formula_errors_expected
    ),
    "CT one cell in pounds": Case(
        "council_tax_receipts", _ct_in_pounds, quarantined=_ct_in_pounds_expected
    ),
    "CT truncated workbook": Case(
        "council_tax_receipts", _truncate_bytes(CT_XLSX), fails="not a readable .xlsx workbook"
    ),
    # ---- The council register and its lookups ------------------------------------------------
    "register header on the wrong row": Case(
        "council_register",
        _register_change(_register_title_line),
        fails="missing required column(s): register_code (^local-authority-code$), "
        "official_name (^official-name$)",
    ),
    "register end date before start": Case(
        "council_register",
        _register_change(_register_dates("2020-04-01", "2019-03-31", "QAAA")),
        quarantined=(Q(8, "(row)", "schema", ROW, "end date after start date"),),
    ),
    "register abolished without successor": Case(
        "council_register",
        _register_change(_register_dates("", "2019-03-31", "")),
        quarantined=(Q(8, "(row)", "schema", ROW, "abolished councils name a successor"),),
    ),
    "register comma-only line between rows": Case(
        "council_register",
        _register_change(lambda rows, c: rows.insert(5, [""] * len(rows[0]))),
        also=_register_blank_line_also,
    ),
    "register Welsh council": Case(
        "council_register",
        _register_change(_register_welsh),
        quarantined=lambda c: [
            Q(
                _rows_at(c),
                "(row)",
                "in scope",
                None,
                "not an English principal council (other nation, combined authority or GLA)",
                "out_of_scope",
            )
        ],
        raw_delta=1,
    ),
    "abolished council code is valid": Case(
        "section114_notices", _abolished, with_register=True, raw_delta=1, also=_abolished_also
    ),
    "name lookup tab-delimited": Case(
        "council_name_lookup", _name_lookup_tabs, fails=DELIMITER_HINT
    ),
    "name lookup unknown register code": Case(
        "council_name_lookup",
        _append(NAME_CSV, lambda c: ["Nowhere Town", "ZZZZ"]),
        quarantined=lambda c: [
            Q(
                2 * len(c.estate.councils) + 2,
                "register_code",
                "council code in register",
                "ZZZZ",
                NOT_A_COUNCIL,
                "out_of_scope",
            )
        ],
        raw_delta=1,
    ),
    "GSS lookup malformed code": Case(
        "council_gss_lookup",
        _append(GSS_CSV, lambda c: ["E0790001", c.estate.councils[0].register_code]),
        quarantined=lambda c: [
            Q(_rows_at(c), "gss_code", "schema", "E0790001", f"str_matches('{ANY_GSS}')")
        ],
        raw_delta=1,
    ),
    "GSS lookup code given to two councils": Case(
        "council_gss_lookup",
        _append(
            GSS_CSV, lambda c: [c.estate.councils[0].gss_code, c.estate.councils[1].register_code]
        ),
        quarantined=lambda c: [
            Q(line, "gss_code", "schema", c.estate.councils[0].gss_code, "field_uniqueness")
            for line in (2, _rows_at(c))
        ],
        raw_delta=1,
    ),
    # ---- Nearest neighbours (JSON) -------------------------------------------------------------
    "NN council listed twice": Case(
        "nearest_neighbours",
        _nn_json(_nn_duplicate),
        quarantined=_nn_duplicate_expected,
        raw_delta=1,
    ),
    "NN empty file": Case(
        "nearest_neighbours", lambda p, c: p.path(NN_JSON).write_bytes(b""), fails="file is empty"
    ),
    "NN list is a string": Case(
        "nearest_neighbours", _nn_json(_nn_not_a_list), quarantined=_nn_not_a_list_expected
    ),
    # ---- Section 114 notices -------------------------------------------------------------------
    "s114 negative notice number": Case(
        "section114_notices",
        _s114(lambda rows: rows[1].__setitem__(4, "-2")),
        quarantined=(Q(3, "notice_number", "schema", "-2", "greater_than_or_equal_to(1)"),),
    ),
    "s114 notice number too large for an integer": Case(
        "section114_notices",
        _s114(lambda rows: rows[3].__setitem__(4, "99999999999999999999999")),
        quarantined=(
            Q(5, "notice_number", "parse as Int64", "99999999999999999999999", "not a valid Int64"),
        ),
    ),
    "s114 unknown date precision": Case(
        "section114_notices",
        _s114(lambda rows: rows[2].__setitem__(3, "week")),
        quarantined=(Q(4, "date_precision", "schema", "week", "isin(['day', 'month', 'year'])"),),
    ),
    # ---- Interventions -------------------------------------------------------------------------
    "interventions semicolon delimiter": Case(
        "interventions", _iv_semicolons, fails=DELIMITER_HINT
    ),
    "interventions bad rows": Case(
        "interventions",
        _iv_rows,
        quarantined=(
            # No code, and the name "B" is no council's: registers that may name a council
            # rather than code it say so.
            Q(3, "council_code", "council code in register", None, NO_CODE_NO_NAME),
            Q(4, "intervention", "schema", "x", "str_length(3, None)"),
            Q(6, "council_code", "council code in register", "E08999999", NOT_IN_REGISTER),
            Q(
                7,
                "date_or_period",
                "schema",
                "2023-13 to 2024-01",
                "a start date the period opens with is a calendar date (month 1-12, day in month)",
            ),
        ),
        raw_delta=6,
        also=_iv_rows_also,
    ),
    # ---- Audit findings ------------------------------------------------------------------------
    "audit register in UTF-16": Case(
        "audit_findings", _audit_utf16, fails="not UTF-8 text: byte 0xff on line 1"
    ),
    "audit unknown finding type": Case(
        "audit_findings",
        audit_rows({"finding_type": "opinion"}),
        quarantined=(Q(5, "finding_type", "schema", "opinion", f"isin({FINDING_TYPES})"),),
        raw_delta=4,
    ),
    "audit disclaimed without a reason": Case(
        "audit_findings",
        audit_rows({"finding_type": "audit_opinion", "vfm_criterion": "", "opinion": "disclaimed"}),
        quarantined=(
            Q(5, "(row)", "schema", ROW, "a disclaimed opinion states why (backstop or other)"),
        ),
        raw_delta=4,
    ),
    "audit published before found": Case(
        "audit_findings",
        audit_rows({"published_date": "2018-01-01"}),
        quarantined=(Q(5, "(row)", "schema", ROW, "published on or after the finding date"),),
        raw_delta=4,
    ),
    "audit source not a URL": Case(
        "audit_findings",
        audit_rows({"source_url": "the auditor's letter"}),
        quarantined=(
            Q(5, "source_url", "schema", "the auditor's letter", f"str_matches('{URL}')"),
        ),
        raw_delta=4,
    ),
    "audit extra column": Case(
        "audit_findings", _audit_extra_column, raw_delta=1, also=_audit_extra_column_also
    ),
    # ---- Peer challenges -----------------------------------------------------------------------
    "peer challenges renamed column": Case(
        "peer_challenges",
        _pc_renamed,
        fails="missing required column(s): challenge_date (^challenge_date$)",
    ),
    "peer challenge report before the challenge": Case(
        "peer_challenges",
        _pc_rows(
            lambda c: challenge_row(c[0]),
            lambda c: challenge_row(c[1], report_published_date="2017-12-01"),
        ),
        quarantined=(
            Q(3, "(row)", "schema", ROW, "report, action plan and review follow the challenge"),
        ),
        raw_delta=2,
    ),
    "peer challenge recorded twice": Case(
        "peer_challenges",
        _pc_rows(
            lambda c: challenge_row(c[0]),
            lambda c: challenge_row(c[0], source_url="https://example.org/cpc-copy"),
        ),
        quarantined=tuple(
            Q(line, "(row)", "schema", ROW, "multiple_fields_uniqueness") for line in (2, 3)
        ),
        raw_delta=2,
    ),
    # ---- Analysts' notes -----------------------------------------------------------------------
    "note shareable 'maybe'": Case(
        "analyst_notes",
        notes({"shareable": "maybe"}),
        quarantined=(Q(4, "shareable", "parse as Boolean", "maybe", "not a valid Boolean"),),
        raw_delta=3,
    ),
    "note unknown category": Case(
        "analyst_notes",
        notes({"category": "gossip"}),
        quarantined=(Q(4, "category", "schema", "gossip", f"isin({CATEGORIES})"),),
        raw_delta=3,
    ),
    "note date as text": Case(
        "analyst_notes",
        notes({"note_date": "last Tuesday"}),
        quarantined=(Q(4, "note_date", "parse as Date", "last Tuesday", "not a valid Date"),),
        raw_delta=3,
    ),
    "notes truncated mid-row": Case(
        "analyst_notes", _notes_truncated, fails="{expected}: the file may be truncated"
    ),
}


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------


def _value(entry: dict[str, Any]) -> str | None:
    value = entry["failure_value"]
    if entry["column_name"] == "(row)" and entry["check_name"] == "schema" and value:
        assert json.loads(value)["source_row_number"] == entry["source_row_number"]
        return ROW
    return value


def _entries(pipeline, source_id: str) -> set[tuple]:
    return {
        (
            r["source_path"],
            r["source_row_number"],
            r["source_column"],
            r["column_name"],
            r["check_name"],
            _value(r),
            r["disposition"],
            r["reason"],
        )
        for r in pipeline.quarantine(source_id)
    }


def _as_entry(q: Q, default_path: str) -> tuple:
    return (
        q.path or default_path,
        q.row,
        q.source_column,
        q.column,
        q.check,
        q.value,
        q.disposition,
        q.reason,
    )


def _current_raw_rows(pipeline, source_id: str) -> int:
    return pipeline.scalar(
        f"SELECT count(*) FROM raw.{source_id} r "
        "JOIN raw.current_loads c ON c.load_id = r.load_id AND c.source_id = ?",
        [source_id],
    )


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_corpus_case(name, fictional, estate, rs_values, s114_rows, xlsx_cells):
    run_case(CASES[name], fictional, estate, rs_values, s114_rows, xlsx_cells)


def run_case(case: Case, fictional, estate, rs_values, s114_rows, xlsx_cells) -> None:
    """Break one file as `case` says, re-materialise its source, and assert the outcome (other
    corpus files, such as tests/test_bad_input_corpus_services.py, run their cases with it)."""
    source = case.source
    spec = load_catalogue()[source]
    relative = case.file or spec.files[0].path
    ctx = Ctx(estate, rs_values, s114_rows, xlsx_cells, {"data_dir": str(fictional.data_dir)})
    baseline = _entries(fictional, source)
    raw_before = _current_raw_rows(fictional, source)
    loads_before = fictional.snapshot("raw.loads")
    validated_before = fictional.snapshot(f"validated.{source}")

    case.breaks(fictional, ctx)
    if relative.endswith(".csv") and case.fails is None:
        ctx.notes["rows"] = rows_of(fictional, relative)
    selection = [f"raw/{source}", f"validated/{source}"]
    if case.with_register:
        selection = [*REGISTER_CHAIN, *selection]
    result = fictional.materialize(
        selection, raise_on_error=False, assets=case.assets() if case.assets else None
    )

    if case.fails is not None:
        assert not result.success
        step = f"raw__{source}"
        assert set(fictional.failures()) == {step}
        message = fictional.failure(step)
        assert str(fictional.path(relative).resolve()) in message, message
        assert case.fails.format(**ctx.notes) in message, message
        assert f"validated/{source}" not in fictional.materialized()
        assert fictional.snapshot("raw.loads") == loads_before  # nothing half-loaded
        assert fictional.snapshot(f"validated.{source}") == validated_before
        return

    assert result.success, fictional.failures()
    delta = case.raw_delta(ctx) if callable(case.raw_delta) else case.raw_delta
    raw = raw_before + delta
    added = case.quarantined(ctx) if callable(case.quarantined) else case.quarantined
    expected = baseline | {_as_entry(q, relative) for q in added}
    actual = _entries(fictional, source)
    assert actual == expected, (
        f"unexpected: {sorted(actual - expected, key=str)}; "
        f"missing: {sorted(expected - actual, key=str)}"
    )
    quarantined = len({(e[0], e[1], e[2]) for e in expected})
    valid = raw - quarantined
    # The count invariant, three ways: the asset's metadata, its check, and the tables.
    metadata = fictional.metadata(f"validated/{source}")
    assert (metadata["raw_rows"], metadata["dagster/row_count"], metadata["quarantined_rows"]) == (
        raw,
        valid,
        quarantined,
    )
    assert fictional.check(f"validated/{source}", "raw_rows_accounted_for").passed
    assert _current_raw_rows(fictional, source) == raw
    assert fictional.scalar(f"SELECT count(*) FROM validated.{source}") == valid
    rejected = {e for e in expected if e[6] == "rejected"}
    assert fictional.check(f"validated/{source}", "rows_pass_schema").passed is (not rejected)
    if case.also is not None:
        case.also(fictional, ctx)


def _other_corpus_files() -> list:
    import importlib

    return [
        importlib.import_module(path.stem)
        for path in sorted(Path(__file__).parent.glob("test_bad_input_corpus_*.py"))
    ]


def _all_corpus_cases() -> dict[str, Case]:
    """This file's cases and those of every other corpus file (test_bad_input_corpus_*.py)."""
    cases = dict(CASES)
    for module in _other_corpus_files():
        for name in dir(module):
            if name.endswith("CASES") and isinstance(getattr(module, name), dict):
                cases |= getattr(module, name)
    return cases


def test_the_corpus_covers_every_source_with_30_cases_or_more():
    # A corpus file whose cases are plain tests names the sources they break (COVERED_SOURCES).
    sources = {case.source for case in _all_corpus_cases().values()}
    for module in _other_corpus_files():
        sources |= set(getattr(module, "COVERED_SOURCES", ()))
    assert sources == set(load_catalogue())
    assert len(CASES) >= 30
    structural = sum(case.fails is not None for case in CASES.values())
    print(
        f"\nbad-input corpus: {len(CASES)} cases ({structural} structural, "
        f"{len(CASES) - structural} row level) across {len(sources)} sources"
    )
