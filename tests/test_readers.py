"""Unit tests of the generic readers (assets/readers.py): csv, xlsx and json layouts.

Each reader must return the file's records as published strings, numbered as a person sees
them, and refuse a structurally unusable file with a SourceFileError naming file and reason.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from assets.readers import EXTRA, SOURCE_COLUMN, SOURCE_ROW, SourceFileError, read_source_file
from pipelines.catalogue import FileSpec, SourceSpec, load_catalogue

CSV_SPEC = SourceSpec(
    id="example",
    title="example",
    publisher="",
    licence="",
    layout="csv_table",
    files=(),
    columns={"code": "^gss-code$", "name": "^(official )?name$", "note": "^note$"},
    optional_columns=frozenset({"note"}),
)
CSV_FILE = FileSpec(path="sources/example.csv")


def _csv(tmp_path: Path, text: str | bytes, name: str = "example.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _error(path: Path, spec: SourceSpec, file: FileSpec) -> SourceFileError:
    with pytest.raises(SourceFileError) as raised:
        read_source_file(path, spec, file)
    error = raised.value
    # Every structural error names the file it is about.
    assert error.path == str(path)
    assert str(error).startswith(f"{path}: ")
    assert str(error) == f"{path}: {error.reason}"
    return error


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_rows_numbered_by_line_and_kept_as_text(tmp_path):
    path = _csv(
        tmp_path,
        "gss-code,name,population,note\n"
        "E06000001,Hartlepool, 0093000 ,first\n"
        'E06000002,"Middlesbrough, Borough of","1,234",\n',
    )
    frame = read_source_file(path, CSV_SPEC, CSV_FILE)
    assert frame.columns == [SOURCE_ROW, SOURCE_COLUMN, "code", "name", "note", EXTRA]
    assert frame.schema[SOURCE_ROW] == pl.Int64
    assert frame.get_column(SOURCE_ROW).to_list() == [2, 3]
    assert frame.get_column("code").to_list() == ["E06000001", "E06000002"]
    assert frame.get_column("name").to_list() == ["Hartlepool", "Middlesbrough, Borough of"]
    assert frame.get_column("note").to_list() == ["first", None]
    assert frame.get_column(SOURCE_COLUMN).to_list() == [None, None]
    # Columns the catalogue does not name are kept, verbatim, as JSON.
    extras = [json.loads(e) for e in frame.get_column(EXTRA).to_list()]
    assert extras == [{"population": " 0093000 "}, {"population": "1,234"}]


def test_csv_header_on_a_later_line(tmp_path):
    path = _csv(tmp_path, "Title line\nPublished 2024\ngss-code,name\nE06000001,Hartlepool\n")
    frame = read_source_file(path, CSV_SPEC, replace(CSV_FILE, header_row=3))
    assert frame.get_column(SOURCE_ROW).to_list() == [4]
    assert frame.get_column("code").to_list() == ["E06000001"]


def test_csv_blank_line_keeps_line_numbers_true(tmp_path):
    path = _csv(tmp_path, "gss-code,name\nE06000001,A\n\nE06000002,B\n")
    frame = read_source_file(path, CSV_SPEC, CSV_FILE)
    by_code = dict(zip(frame.get_column("code"), frame.get_column(SOURCE_ROW), strict=True))
    assert by_code["E06000001"] == 2
    assert by_code["E06000002"] == 4


def test_csv_headers_match_case_and_whitespace_insensitively_with_bom(tmp_path):
    path = _csv(tmp_path, "\ufeff GSS-Code ,Official Name\nE06000001,Hartlepool\n".encode())
    frame = read_source_file(path, CSV_SPEC, CSV_FILE)
    assert frame.row(0, named=True)["code"] == "E06000001"
    assert frame.row(0, named=True)["name"] == "Hartlepool"
    assert frame.row(0, named=True)["note"] is None  # optional and absent
    assert frame.row(0, named=True)[EXTRA] is None  # nothing else in the file


def test_csv_missing_column_names_column_pattern_and_headers(tmp_path):
    path = _csv(tmp_path, "gss_code,name\nE06000001,A\n")
    error = _error(path, CSV_SPEC, CSV_FILE)
    assert "missing required column(s): code (^gss-code$)" in error.reason
    assert "headers found: ['gss_code', 'name']" in error.reason
    assert "delimiter" not in error.reason


def test_csv_other_delimiter_gets_a_hint(tmp_path):
    path = _csv(tmp_path, "gss-code;name\nE06000001;A\n")
    error = _error(path, CSV_SPEC, CSV_FILE)
    assert "missing required column(s)" in error.reason
    assert "may use another delimiter" in error.reason


def test_csv_ambiguous_column(tmp_path):
    path = _csv(tmp_path, "gss-code,name,official name\nE06000001,A,A Council\n")
    error = _error(path, CSV_SPEC, CSV_FILE)
    assert "column 'name' is ambiguous" in error.reason
    assert "'name'" in error.reason and "'official name'" in error.reason


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"\r\n"], ids=["empty", "blank", "crlf"])
def test_csv_empty_file(tmp_path, content):
    error = _error(_csv(tmp_path, content), CSV_SPEC, CSV_FILE)
    assert error.reason == "file is empty"


def test_csv_header_only_is_zero_rows(tmp_path):
    frame = read_source_file(_csv(tmp_path, "gss-code,name\n"), CSV_SPEC, CSV_FILE)
    assert frame.height == 0
    assert frame.columns == [SOURCE_ROW, SOURCE_COLUMN, "code", "name", "note", EXTRA]


def test_csv_not_utf8_names_byte_and_line(tmp_path):
    content = "gss-code,name\nE06000001,Hartlepool\nE06000002,Caf\u00e9 Town\n".encode("cp1252")
    error = _error(_csv(tmp_path, content), CSV_SPEC, CSV_FILE)
    assert error.reason.startswith("not UTF-8 text: byte 0xe9 on line 3")
    assert "save the file as UTF-8" in error.reason


def test_csv_ragged_row_is_unreadable(tmp_path):
    path = _csv(tmp_path, "gss-code,name\nE06000001,A\nE06000002,B,surplus\n")
    error = _error(path, CSV_SPEC, CSV_FILE)
    assert error.reason.startswith("not a readable CSV table:")


def test_missing_file_and_unknown_layout(tmp_path):
    missing = tmp_path / "nowhere.csv"
    assert _error(missing, CSV_SPEC, CSV_FILE).reason == "file not found"
    path = _csv(tmp_path, "gss-code,name\nE06000001,A\n")
    error = _error(path, replace(CSV_SPEC, layout="parquet_table"), CSV_FILE)
    assert error.reason == "unknown layout 'parquet_table'"


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------

RS_SPEC = load_catalogue()["revenue_outturn"]
RS_FILE = RS_SPEC.files[2]  # 2017-18: sheet "RS LA Data 2017-18", header on row 7
CT_SPEC = load_catalogue()["council_tax_receipts"]
CT_FILE = CT_SPEC.files[0]  # sheet Table_5, header on row 6

RS_HEADERS = [
    "E-code",
    "ONS Code",
    "Local authority",
    None,
    "Class",
    "Education services",
    "NET REVENUE EXPENDITURE",
    "Estimated schools reserves level at 1 April",
    "Estimated public health financial reserves level at 1 April",
    "Estimated other earmarked financial reserves level at 1 April",
    "Estimated unallocated financial reserves level at 1 April",
    "Estimated schools reserves level at 31 March",
    "Estimated public health financial reserves level at 31 March",
    "Estimated other earmarked financial reserves level at 31 March",
    "Estimated unallocated financial reserves level at 31 March",
]


def _workbook(path: Path, sheets: dict[str, dict[int, list]]) -> Path:
    """Write sheets of {spreadsheet row number: cells}."""
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for row_number, cells in rows.items():
            for column, value in enumerate(cells):
                if value is not None:
                    sheet.write(row_number - 1, column, value)
    book.close()
    return path


# Reserves at 1 April then 31 March: schools, public health, other earmarked, unallocated.
BIRMINGHAM = [1, 2, 3, 100838, 4, 5, 6, 170469]


def _rs_rows() -> dict[int, list]:
    return {
        1: ["Revenue Outturn (RO) 2017-18"],
        7: RS_HEADERS,
        8: ["E4601", "E08000025", "Birmingham", None, "MD", 1, 770458.609, *BIRMINGHAM],
        9: ["E5030", "E09000002", "Barking", "I", "L", 1, 2.5, "-", "..", 7, 8, 9, 10, 11, 12],
        11: [None, None, "ENGLAND", None, None, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        13: ["Source: notes below the table"],
    }


def test_xlsx_header_row_row_numbers_and_stop_at_blank(tmp_path):
    path = _workbook(tmp_path / "rs.xlsx", {"Front": {1: ["x"]}, "RS LA Data 2017-18": _rs_rows()})
    frame = read_source_file(path, RS_SPEC, RS_FILE)
    # Spreadsheet rows: header on 7, councils on 8 and 9, the table ends at the blank row 10.
    assert frame.get_column(SOURCE_ROW).to_list() == [8, 9]
    birmingham = frame.row(0, named=True)
    assert birmingham["council_code"] == "E08000025"
    assert birmingham["authority_class"] == "MD"
    # Numbers arrive as text; the validated layer types them.
    assert float(birmingham["net_revenue_expenditure"]) == 770458.609
    assert float(birmingham["unallocated_reserves_start"]) == 100838
    assert float(birmingham["unallocated_reserves_end"]) == 170469
    barking = frame.row(1, named=True)
    assert barking["schools_reserves_start"] == "-"
    assert barking["public_health_reserves_start"] == ".."
    # The blank-headed column (an imputation flag in the real files) is kept in `extra`.
    extra = json.loads(barking[EXTRA])
    assert "I" in extra.values()
    assert float(extra["Education services"]) == 1


def test_xlsx_wrong_sheet_lists_the_sheets(tmp_path):
    path = _workbook(tmp_path / "rs.xlsx", {"Front": {1: ["x"]}, "RS LA Data 2016-17": {}})
    error = _error(path, RS_SPEC, RS_FILE)
    assert error.reason == (
        "sheet 'RS LA Data 2017-18' not found; the workbook has ['Front', 'RS LA Data 2016-17']"
    )


def test_xlsx_without_a_sheet_in_the_catalogue(tmp_path):
    path = _workbook(tmp_path / "rs.xlsx", {"RS LA Data 2017-18": _rs_rows()})
    error = _error(path, RS_SPEC, replace(RS_FILE, sheet=None))
    assert error.reason == "the catalogue names no sheet for this workbook"


def test_xlsx_header_on_the_wrong_row_is_missing_columns(tmp_path):
    path = _workbook(tmp_path / "rs.xlsx", {"RS LA Data 2017-18": _rs_rows()})
    error = _error(path, RS_SPEC, replace(RS_FILE, header_row=6))
    assert "missing required column(s): ecode (^e-code$)" in error.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (b"gss-code,name\nE06000001,A\n", "not a readable .xlsx workbook"),
        (b"PK\x03\x04 truncated zip", "not a readable .xlsx workbook"),
    ],
    ids=["empty", "csv renamed", "corrupt"],
)
def test_xlsx_unreadable(tmp_path, content, reason):
    path = tmp_path / "rs.xlsx"
    path.write_bytes(content)
    assert _error(path, RS_SPEC, RS_FILE).reason.startswith(reason)


def test_xlsx_unpivot_one_row_per_cell(tmp_path):
    rows = {
        1: ["Table 5"],
        6: [
            "E-code",
            "ONS Code",
            "Local authority",
            "Class",
            "Region",
            "April to June 2021 (Q1)",
            "January to March 2022 (Q4)",
            "Notes",
        ],
        7: ["Eng", "E92000001", "England", "Eng", "Eng", 1000.5, 900, "total"],
        8: ["E0101", "E06000001", "Hartlepool", "UA", "NE", 12.25, None, None],
    }
    path = _workbook(tmp_path / "ct.xlsx", {"Table_5": rows})
    frame = read_source_file(path, CT_SPEC, CT_FILE)
    assert frame.columns == [
        SOURCE_ROW,
        SOURCE_COLUMN,
        "ecode",
        "council_code",
        "council_name",
        "authority_class",
        "quarter_label",
        "receipts",
        EXTRA,
    ]
    cells = {
        (r[SOURCE_ROW], r[SOURCE_COLUMN]): (r["quarter_label"], r["receipts"], r["council_code"])
        for r in frame.iter_rows(named=True)
    }
    assert len(cells) == frame.height == 4
    q1, q4 = "April to June 2021 (Q1)", "January to March 2022 (Q4)"
    assert cells[(7, q1)] == (q1, "1000.5", "E92000001")
    assert cells[(7, q4)] == (q4, "900", "E92000001")
    assert cells[(8, q1)] == (q1, "12.25", "E06000001")
    assert cells[(8, q4)] == (q4, None, "E06000001")
    assert frame.get_column(SOURCE_ROW).to_list() == [7, 7, 8, 8]
    extras = [json.loads(e) for e in frame.get_column(EXTRA).to_list()]
    assert extras[0] == {"Region": "Eng", "Notes": "total"}


def test_xlsx_unpivot_without_period_columns(tmp_path):
    rows = {6: ["E-code", "ONS Code", "Local authority", "Class", "2021-22 total"]}
    path = _workbook(tmp_path / "ct.xlsx", {"Table_5": rows})
    error = _error(path, CT_SPEC, CT_FILE)
    assert error.reason.startswith("no column header matches the period pattern")


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------

NN_SPEC = load_catalogue()["nearest_neighbours"]
NN_FILE = NN_SPEC.files[0]


def test_json_neighbours_one_row_per_council(tmp_path):
    document = {"E06000001": ["E06000001", "E06000002"], "E06000002": ["E06000002"]}
    path = tmp_path / "NN.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    frame = read_source_file(path, NN_SPEC, NN_FILE)
    assert frame.columns == [SOURCE_ROW, SOURCE_COLUMN, "council_code", "neighbour_codes", EXTRA]
    assert frame.get_column(SOURCE_ROW).to_list() == [1, 2]
    assert frame.get_column("council_code").to_list() == ["E06000001", "E06000002"]
    lists = [json.loads(t) for t in frame.get_column("neighbour_codes").to_list()]
    assert lists == [["E06000001", "E06000002"], ["E06000002"]]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (b'["E06000001"]', "expected a JSON object of council code -> neighbour list"),
        (b'{\n"E06000001": [\n', "not valid JSON: "),
        ('{"E06000001": ["Caf\u00e9"]}'.encode("latin-1"), "not UTF-8 text: byte 0xe9 on line 1"),
    ],
    ids=["empty", "list", "truncated", "latin-1"],
)
def test_json_structural_errors(tmp_path, content, reason):
    path = tmp_path / "NN.json"
    path.write_bytes(content)
    assert _error(path, NN_SPEC, NN_FILE).reason.startswith(reason)


def test_json_error_names_the_line(tmp_path):
    path = tmp_path / "NN.json"
    path.write_text('{\n"E06000001": ["E06000001"],\n"E06000002": [oops]\n}', encoding="utf-8")
    assert "at line 3" in _error(path, NN_SPEC, NN_FILE).reason


@pytest.mark.parametrize("header", ["*", "^note$", "^.*$", ""])
def test_a_header_that_looks_like_an_expression_is_kept_as_text(
    tmp_path: Path, header: str
) -> None:
    """polars reads pl.col("*") as every column and pl.col("^...$") as a pattern: a file's
    header is neither, so an extra column named like that lands in `extra` under its name."""
    path = _csv(tmp_path, f"gss-code,name,note,{header}\nE06000001,A,n1,x\n")
    frame = read_source_file(path, CSV_SPEC, CSV_FILE)
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert (row["code"], row["name"], row["note"]) == ("E06000001", "A", "n1")
    assert json.loads(row[EXTRA]) == {header: "x"}
