"""Property-based tests of the readers and the validation engine (hypothesis).

Whatever a source file holds, reading it either returns the rows or raises `SourceFileError`
(a structural error naming the file), and validating the rows either raises
`StructuralValidationError` or accounts for every row: each raw row is either validated or
quarantined, never both, never neither (raw = validated + distinct quarantined).

They call `assets.readers.read_source_file` and `checks.validation.stage_rows` directly (no
Dagster, no warehouse), with the real catalogue specs and staging specs of every source.
"""

from __future__ import annotations

import csv
import io
import json
import re
import re._parser as re_parser
import tempfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.readers import SourceFileError, read_source_file
from checks.schemas import STAGING_SPECS
from checks.validation import KEY_COLUMNS, StructuralValidationError, stage_rows
from pipelines.catalogue import FileSpec, SourceSpec, load_catalogue

CATALOGUE = load_catalogue()
CSV_SOURCES = sorted(s for s, spec in CATALOGUE.items() if spec.layout == "csv_table")
XLSX_SOURCES = sorted(s for s, spec in CATALOGUE.items() if spec.layout == "xlsx_table")
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW_EXAMPLES = settings(EXAMPLES, max_examples=15)

# Councils the code maps know (by GSS code, register code and E-code).
COUNCILS = [
    ("E06900001", "QAAA", "E9001"),
    ("E07900001", "QAAB", "E9002"),
    ("E08900001", "QAAC", "E9003"),
    ("E09900001", "QAAD", "E9004"),
    ("E10900001", "QAAE", "E9005"),
]
CODE_MAPS = {
    "gss": pl.DataFrame(
        {"code": [c[0] for c in COUNCILS], "council_code": [c[0] for c in COUNCILS]}
    ),
    "register_code": pl.DataFrame(
        {"code": [c[1] for c in COUNCILS], "council_code": [c[0] for c in COUNCILS]}
    ),
    "ecode": pl.DataFrame(
        {"code": [c[2] for c in COUNCILS], "council_code": [c[0] for c in COUNCILS]}
    ),
    # Names as registers and Ofsted files may give them, with the councils' dates:
    # "PROPERTYSHIRE" was borne by two councils, one before 1 April 2023 and one from then.
    "name": pl.DataFrame(
        {
            "code": [
                *[f"Fictional {c[1]} Council" for c in COUNCILS],
                "PROPERTYSHIRE",
                "PROPERTYSHIRE",
                "PROPERTY BOROUGH",
                # Sources that name councils (capital outturn).
                *[f"Testshire {i}" for i in range(1, len(COUNCILS) + 1)],
            ],
            "council_code": [
                *[c[0] for c in COUNCILS],
                COUNCILS[4][0],
                COUNCILS[0][0],
                COUNCILS[3][0],
                *[c[0] for c in COUNCILS],
            ],
            "start_date": [*[None for _ in COUNCILS], None, date(2023, 4, 1), None]
            + [None for _ in COUNCILS],
            "end_date": [*[None for _ in COUNCILS], date(2023, 4, 1), None, None]
            + [None for _ in COUNCILS],
        }
    ),
}
# Cells real files hold, well formed or not: numbers in every notation, official markers,
# formula errors, dates in several formats, codes known and unknown, spaces and nothing.
TRICKY = [
    "",
    " ",
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1,234.5",
    "£1,000",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "12.3%",
    "5000001",
    "99999999999999999999999",
    "..",
    "-",
    "[x]",
    "[z]",
    "n/a",
    "#DIV/0!",
    "#REF!",
    "#N/A",
    "true",
    "yes",
    "No",
    "maybe",
    "2019-03-31",
    "2019-02-30",
    "31/03/2019",
    "2019-03-31T10:00:00",
    "9999-12-31",
    "0001-01-01",
    "2016-17",
    "2016-18",
    "2031-32",
    "April to June 2019 (Q1)",
    *[code for council in COUNCILS for code in council],
    "e06900001 ",
    "E06999999",
    "Propertyshire",
    "property & borough",
    "01/06/22",
    "W06000015",
    "E92000001",
    '["E06900001", "E07900001"]',
    "[]",
    "{}",
    "null",
    "https://example.org/a",
    "audit_opinion",
    "disclaimed",
    "backstop",
    "governance",
    "key",
    "leadership",
    "day",
    "CTY",
    "UA",
    "England",
    "London",
    "SD",
    "ASC3",
    "'); DROP TABLE raw.loads; --",
]
CELL = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))


def _shortest_match(parsed: list) -> str:
    """The shortest text a parsed regular expression matches, taking the first alternative
    and the first character of each class (enough for the catalogue's header patterns)."""
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL" or name == "ANY":
            out.append("x" if arg != ord("x") else "y")
        elif name == "IN":
            out.append(_first_of_class(arg))
        elif name == "SUBPATTERN":
            out.append(_shortest_match(arg[-1]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, item = arg
            out.append(_shortest_match(item) * low)
        elif name == "BRANCH":
            out.append(_shortest_match(arg[1][0]))
        elif name == "CATEGORY":
            out.append(_CATEGORY_EXAMPLE[str(arg)])
        # AT (anchors), GROUPREF and assertions add no text.
    return "".join(out)


_CATEGORY_EXAMPLE = {"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " ", "CATEGORY_WORD": "a"}


def _first_of_class(items: list) -> str:
    op, arg = items[0]
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY":
        return _CATEGORY_EXAMPLE[str(arg)]
    return "a"


def header_for(pattern: str) -> str:
    """A header text the catalogue pattern matches, the shortest: `^(estimated )?x$` -> `x`."""
    text = _shortest_match(list(re_parser.parse(pattern)))
    assert re.fullmatch(pattern, text, re.IGNORECASE), (pattern, text)
    return text


# Sample period headers of unpivoted tables (one raw row per period cell).
PERIODS = [
    "April to June 2019 (Q1)",
    "July to September 2019 (Q2)",
    "FYE 2019",
    "FYE 2020",
    "2016-17",
    "2017-18",
]


def period_headers(spec: SourceSpec) -> list[str]:
    if spec.unpivot is None:
        return []
    return [p for p in PERIODS if re.fullmatch(spec.unpivot.header_pattern, p)]


def headers_of(spec: SourceSpec) -> list[str]:
    return [header_for(pattern) for pattern in spec.columns.values()]


def as_raw(frame: pl.DataFrame, source_id: str) -> pl.DataFrame:
    """What the raw layer returns for a load of these rows: the file's rows with lineage."""
    file = CATALOGUE[source_id].files[0]
    return frame.with_columns(
        pl.lit("L1").alias("load_id"),
        pl.lit(file.path).alias("source_path"),
        pl.lit("0" * 64).alias("file_sha256"),
        pl.lit(datetime(2024, 6, 1, 12, 0)).alias("loaded_at"),
        pl.lit(file.period, dtype=pl.String).alias("load_period"),
        pl.lit(file.theme, dtype=pl.String).alias("load_theme"),
        pl.lit(file.published, dtype=pl.Date).alias("load_published"),
    )


def assert_every_row_accounted_for(raw: pl.DataFrame, source_id: str) -> None:
    """Validate: a structural error, or every raw row either validated or quarantined."""
    spec = STAGING_SPECS[source_id]
    try:
        staged = stage_rows(
            raw, spec, source_id, CODE_MAPS, CATALOGUE[source_id].publication_lag_days
        )
    except StructuralValidationError:
        return
    keys = raw.select(KEY_COLUMNS)
    assert keys.n_unique() == raw.height  # lineage identifies each raw row
    valid = set(staged.valid.select(KEY_COLUMNS).iter_rows())
    quarantined = set(staged.quarantine.select(KEY_COLUMNS).iter_rows())
    assert valid.isdisjoint(quarantined), "a row both validated and quarantined"
    assert valid | quarantined == set(keys.iter_rows()), "a raw row went missing"
    assert staged.valid.height == len(valid), "a raw row validated twice"
    assert raw.height == staged.valid.height + staged.quarantined_rows


def read(path: Path, source_id: str, file: FileSpec | None = None) -> pl.DataFrame | None:
    """The rows, or None when the file is refused as structurally unusable."""
    spec = CATALOGUE[source_id]
    try:
        return read_source_file(path, spec, file or spec.files[0])
    except SourceFileError as error:
        assert str(path) in str(error)
        return None


# --------------------------------------------------------------------------------------------
# Arbitrary bytes: read or refused, never anything else
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_id", ["section114_notices", "nearest_neighbours", "revenue_outturn"]
)
@EXAMPLES
@given(payload=st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused(source_id: str, payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(CATALOGUE[source_id].files[0].path).name
        path.write_bytes(payload)
        frame = read(path, source_id)
        if frame is not None:
            assert_every_row_accounted_for(as_raw(frame, source_id), source_id)


@pytest.mark.parametrize("source_id", CSV_SOURCES)
@EXAMPLES
@given(text=st.text(max_size=300), with_header=st.booleans())
def test_arbitrary_text_as_csv_is_read_or_refused(
    source_id: str, text: str, with_header: bool
) -> None:
    header = ",".join(headers_of(CATALOGUE[source_id])) + "\n" if with_header else ""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.csv"
        path.write_text(header + text, encoding="utf-8")
        frame = read(path, source_id)
        if frame is not None:
            assert_every_row_accounted_for(as_raw(frame, source_id), source_id)


# --------------------------------------------------------------------------------------------
# Well-formed files with arbitrary cells: every row read, every row accounted for
# --------------------------------------------------------------------------------------------


def _table(n_columns: int) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.lists(CELL, min_size=n_columns, max_size=n_columns), max_size=12)


@pytest.mark.parametrize("source_id", CSV_SOURCES)
@EXAMPLES
@given(data=st.data())
def test_arbitrary_cells_in_a_csv_are_all_accounted_for(source_id: str, data) -> None:
    spec = CATALOGUE[source_id]
    extra = data.draw(st.lists(st.text(max_size=8), max_size=2), label="extra headers")
    header = headers_of(spec) + period_headers(spec) + extra
    rows = data.draw(_table(len(header)), label="rows")
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        frame = read(path, source_id)
    if frame is None:
        # Only the header can make a well-quoted file unusable: an extra header that repeats
        # or matches a catalogue column.
        assert extra
        return
    blank = sum(1 for r in rows if all(c == "" for c in r))
    cells = 1
    if spec.unpivot is not None:  # one raw row per period cell (extra headers may be periods)
        pattern = re.compile(spec.unpivot.header_pattern, re.IGNORECASE)
        cells = sum(1 for h in header if pattern.fullmatch(h.strip()))
    assert frame.height == (len(rows) - blank) * cells  # a blank line is layout, not a record
    assert_every_row_accounted_for(as_raw(frame, source_id), source_id)


@pytest.mark.parametrize("source_id", sorted(STAGING_SPECS))
@EXAMPLES
@given(data=st.data())
def test_arbitrary_cells_in_every_column_are_all_accounted_for(source_id: str, data) -> None:
    """The raw rows straight to the validation engine: arbitrary text in numeric, date and code
    columns alike."""
    spec = CATALOGUE[source_id]
    columns = spec.raw_columns
    rows = data.draw(_table(len(columns)), label="rows")
    frame = pl.DataFrame(
        [dict(zip(columns, r, strict=True)) for r in rows],
        schema={c: pl.String for c in columns},
        orient="row",
    ).with_columns(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("source_row_number"),
        pl.lit(None, dtype=pl.String).alias("source_column"),
        pl.lit(None, dtype=pl.String).alias("extra"),
    )
    assert_every_row_accounted_for(as_raw(frame, source_id), source_id)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | CELL,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(CELL, children, max_size=3),
    max_leaves=8,
)


@EXAMPLES
@given(document=st.dictionaries(CELL, JSON_VALUE, max_size=8), repeat=st.booleans())
def test_arbitrary_neighbour_lists_are_all_accounted_for(document: dict, repeat: bool) -> None:
    text = json.dumps(document)
    if repeat and document:  # a council listed twice, as a hand-edited file may
        key, value = next(iter(document.items()))
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "NN.json"
        path.write_text(text, encoding="utf-8")
        frame = read(path, "nearest_neighbours")
    assert frame is not None
    assert frame.height == len(document) + (repeat and bool(document))
    assert_every_row_accounted_for(as_raw(frame, "nearest_neighbours"), "nearest_neighbours")


@pytest.mark.parametrize("source_id", XLSX_SOURCES)
@FEW_EXAMPLES
@given(data=st.data())
def test_arbitrary_cells_in_a_workbook_are_all_accounted_for(source_id: str, data) -> None:
    spec = CATALOGUE[source_id]
    file = spec.files[0]
    header = headers_of(spec)
    if spec.unpivot is not None:
        periods = [
            "April to June 2019 (Q1)",
            "July to September 2019 (Q2)",
            "FYE 2019",
            "FYE 2020",
            "2016-17",
            "2017-18",
        ]
        header += [p for p in periods if re.fullmatch(spec.unpivot.header_pattern, p)]
    rows = data.draw(_table(len(header)), label="rows")
    numbers = data.draw(
        st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4), label="numbers"
    )
    errors = data.draw(st.lists(st.sampled_from(["#DIV/0!", "#REF!", "#N/A"]), max_size=3))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.xlsx"
        book = xlsxwriter.Workbook(str(path))
        sheet = book.add_worksheet(file.sheet)
        top = file.header_row - 1
        for col, text in enumerate(header):
            sheet.write_string(top, col, text)
        for r, row in enumerate(rows, start=top + 1):
            for c, cell in enumerate(row):
                if cell:
                    sheet.write_string(r, c, cell)
        # Numbers and formula errors in the last columns (figures, receipts) of the first rows.
        for i, number in enumerate(numbers[: len(rows)]):
            sheet.write_number(top + 1 + i, len(header) - 1, number)
        for i, error in enumerate(errors[: len(rows)]):
            sheet.write_formula(top + 1 + i, len(header) - 2, "=1/0", None, error)
        book.close()
        frame = read(path, source_id, file)
    if frame is None:
        return  # e.g. a row with a council code below a row without an E-code
    assert_every_row_accounted_for(as_raw(frame, source_id), source_id)
