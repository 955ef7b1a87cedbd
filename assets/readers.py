"""Generic readers, one per file layout, configured by the source catalogue.

Every reader returns the file's records as strings, exactly as published, with:
- `source_row_number`: the row as a person sees it (CSV line, spreadsheet row, JSON entry);
- `source_column`: for unpivoted tables, the header of the cell the value came from;
- one column per catalogue name (`columns:` in sources.yaml);
- `extra`: every other column of the file, as a JSON object, so nothing is lost.

A file that cannot be read as the catalogue describes raises `SourceFileError`, which names the
file and what is wrong. Typing and checking values is the validated layer's job, not the reader's.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pipelines.catalogue import FileSpec, SourceSpec
from pipelines.sql import load_sql

SOURCE_ROW = "source_row_number"
SOURCE_COLUMN = "source_column"
EXTRA = "extra"


class SourceFileError(Exception):
    """A source file is structurally unusable: unreadable, wrong sheet, missing column..."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _decode_text(path: Path, payload: bytes) -> str:
    if not payload.strip():
        raise SourceFileError(path, "file is empty")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = payload[: error.start].count(b"\n") + 1
        raise SourceFileError(
            path,
            f"not UTF-8 text: byte 0x{payload[error.start]:02x} on line {line} "
            "(save the file as UTF-8 and load it again)",
        ) from error


def _match_columns(path: Path, spec: SourceSpec, headers: list[str]) -> dict[str, str]:
    """Map each catalogue column to the one file header its pattern matches."""
    matched: dict[str, str] = {}
    missing: list[str] = []
    for name, pattern in spec.columns.items():
        regex = re.compile(pattern, re.IGNORECASE)
        hits = [h for h in headers if regex.fullmatch(str(h).strip())]
        if len(hits) > 1:
            raise SourceFileError(
                path, f"column {name!r} is ambiguous: headers {hits} all match {pattern!r}"
            )
        if hits:
            matched[name] = hits[0]
        elif name not in spec.optional_columns:
            missing.append(f"{name} ({pattern})")
    if missing:
        raise SourceFileError(
            path,
            f"missing required column(s): {', '.join(missing)}; headers found: {headers}"
            f"{_delimiter_hint(headers)}",
        )
    return matched


def unreadable_csv(
    path: Path, error: Exception, header: list[str] | None = None
) -> SourceFileError:
    """The refusal of a file polars cannot parse as a CSV table: its first line of explanation,
    and a hint when the header suggests another delimiter."""
    first_line = str(error).strip().splitlines()[0]
    return SourceFileError(path, f"not a readable CSV table: {first_line}{_delimiter_hint(header)}")


def _delimiter_hint(headers: list[str] | None) -> str:
    if headers and len(headers) == 1 and any(d in str(headers[0]) for d in (";", "\t", "|")):
        return "; the header is one column, so the file may use another delimiter"
    return ""


def _shape(
    path: Path,
    spec: SourceSpec,
    frame: pl.DataFrame,
    first_row_number: int,
    carry: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Rename matched columns, keep the rest as JSON, number the rows as a person sees them.

    `frame` may also be a LazyFrame (scan_csv_table), without `stop_at_blank`; `carry` names
    helper columns that are not the file's and pass through unchanged, last."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    headers = [c for c in names if c not in carry]
    matched = _match_columns(path, spec, headers)
    frame = frame.with_row_index(SOURCE_ROW, offset=first_row_number).with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64)
    )
    # A file's headers are text, not expressions: pl.col("*") or pl.col("^a.*$") would select
    # other columns too, so the file's columns are selected by position.
    position = {name: index + 1 for index, name in enumerate(names)}

    def column(header: str) -> pl.Expr:
        return pl.nth(position[header]).alias(header)

    if spec.stop_at_blank:
        stop_col = matched[spec.stop_at_blank]
        blank = frame.select(column(stop_col).is_null().arg_true().first()).item()
        if blank is not None:
            _refuse_a_table_cut_short(path, spec, matched, frame.slice(blank))
            frame = frame.head(blank)
    value_headers: list[str] = []
    if spec.unpivot is not None:
        pattern = re.compile(spec.unpivot.header_pattern, re.IGNORECASE)
        value_headers = [h for h in headers if pattern.fullmatch(str(h).strip())]
        if not value_headers:
            raise SourceFileError(
                path, f"no column header matches the period pattern {pattern.pattern!r}"
            )
    used = set(matched.values()) | set(value_headers)
    extra_headers = [h for h in headers if h not in used]
    extra = (
        pl.struct([column(h) for h in extra_headers]).struct.json_encode()
        if extra_headers
        else pl.lit(None, dtype=pl.String)
    )
    shaped = frame.select(
        pl.col(SOURCE_ROW),
        *[column(header).alias(name) for name, header in matched.items()],
        *[pl.lit(None, dtype=pl.String).alias(n) for n in spec.columns if n not in matched],
        *[column(h) for h in value_headers],
        extra.alias(EXTRA),
        *[pl.col(c) for c in carry],
    )
    if spec.unpivot is None:
        return shaped.with_columns(pl.lit(None, dtype=pl.String).alias(SOURCE_COLUMN))
    return (
        shaped.unpivot(
            on=value_headers,
            index=[SOURCE_ROW, *spec.columns, EXTRA],
            variable_name=SOURCE_COLUMN,
            value_name=spec.unpivot.value_column,
        )
        .with_columns(pl.col(SOURCE_COLUMN).alias(spec.unpivot.name_column))
        .sort(SOURCE_ROW, maintain_order=True)
    )


def _check_record_widths(path: Path, text: str, header_row: int) -> list[str] | None:
    """A record with fewer fields than the header is a truncated file or a broken row: polars
    would fill the missing cells with nulls (and a cut-off "7.6" would load as 7), so the file
    is refused, naming the line. Blank lines are layout, not records."""
    reader = csv.reader(io.StringIO(text))
    try:
        for _ in range(header_row - 1):
            next(reader, None)
        header = next(reader, None)
        if header is None:
            return None
        for record in reader:
            if record and len(record) < len(header) and any(f.strip() for f in record):
                raise SourceFileError(
                    path,
                    f"line {reader.line_num} has {len(record)} of the header's {len(header)} "
                    "fields: the file may be truncated, or the row is incomplete",
                )
    except csv.Error as error:
        raise SourceFileError(
            path, f"not a readable CSV table: {error} (line {reader.line_num})"
        ) from error
    return header


# A council's GSS code: below the end of a table (totals, footnotes) there is none.
_COUNCIL_CODE = r"^\s*E(06|07|08|09|10)\d{6}\s*$"


def _refuse_a_table_cut_short(
    path: Path, spec: SourceSpec, matched: dict[str, str], rest: pl.DataFrame
) -> None:
    """The table ends at the first row with no `stop_at_blank` value. If that row, or any
    below it, still holds a council code, a council's row merely lacks that value and ending
    the table there would silently drop it and every council below: refuse the file instead."""
    if "council_code" not in matched or spec.stop_at_blank is None:
        return
    councils = rest.filter(rest.get_column(matched["council_code"]).str.contains(_COUNCIL_CODE))
    if councils.is_empty():
        return
    first = councils.row(0, named=True)
    stop_header = matched[spec.stop_at_blank]
    raise SourceFileError(
        path,
        f"row {rest.item(0, SOURCE_ROW)} has no {stop_header!r}, which ends the table, but "
        f"{councils.height} row(s) from there on hold a council code (first: row "
        f"{first[SOURCE_ROW]}, {first[matched['council_code']]!r}); fill in the missing "
        f"{stop_header!r} so no council is cut off",
    )


def read_csv_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    text = _decode_text(path, path.read_bytes())
    header = _check_record_widths(path, text, file.header_row)
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            infer_schema=False,
            skip_rows=file.header_row - 1,
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        raise unreadable_csv(path, error, header) from error
    # A person counts the header line as line 1, so the first record is on the next line.
    first = file.header_row + 1
    # A blank line (every cell empty, in every column of the file) is layout, not a record:
    # hand-edited registers end in one.
    blank = frame.select(pl.all_horizontal(pl.all().is_null()).arg_true() + first)
    shaped = _shape(path, spec, frame, first_row_number=first)
    return shaped.filter(~pl.col(SOURCE_ROW).is_in(blank.to_series().cast(pl.Int64).implode()))


_BLANK = "__blank_record"
# Longer CSV lines are left to the csv module's own check (its field size limit is 131,072).
_FAST_CHECK_MAX_LINE = 65_536


def _scan_text(path: Path) -> bool:
    """_decode_text's checks in one streaming pass, without holding the file in memory: a file
    that is empty or not UTF-8 is handed to _decode_text, which raises exactly as it would.
    True when the text is also "plain": no NUL and no carriage return outside a CRLF."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    content = False
    plain = True
    previous = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                content = content or bool(chunk.strip())
                if decoder.getstate()[0] or not chunk.isascii():
                    decoder.decode(chunk)
                joined = previous + chunk
                # A CR that ends this chunk is counted with the next one, which may start LF.
                body = joined[:-1] if joined.endswith(b"\r") else joined
                if b"\x00" in chunk or body.count(b"\r") != body.count(b"\r\n"):
                    plain = False
                previous = joined[len(body) :]
            decoder.decode(b"", final=True)
        plain = plain and not previous
    except UnicodeDecodeError:
        content = False
    if not content:
        _decode_text(path, path.read_bytes())  # raises: empty, or not UTF-8
        return False
    return plain


def _record_widths_evidently_fine(path: Path, header_row: int) -> list[str] | None:
    """The file's header if DuckDB's strict CSV parser (parallel, a few seconds for gigabytes)
    finds every record exactly as wide as the header: then no record is short, which is all
    _check_record_widths looks for. None otherwise (and for anything unusual), so the caller
    runs _check_record_widths itself and its outcome and message stand."""
    import duckdb

    if header_row != 1:
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except csv.Error:
        return None
    if not header:
        return None
    columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
    try:
        with duckdb.connect() as connection:
            connection.execute(
                load_sql("raw/csv_record_widths"),
                {
                    "path": str(path),
                    "max_line_size": _FAST_CHECK_MAX_LINE,
                    "columns": columns,
                },
            ).fetchall()
    except duckdb.Error:
        return None
    return header


def scan_csv_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.LazyFrame:
    """read_csv_table's rows as a LazyFrame, for a file too big to hold in memory (raw.py
    streams it into the warehouse). The same checks run first, streaming; wherever the
    streaming checks see anything unusual, read_csv_table's own checks run on the whole text,
    so a file is refused with the same message either way. Parse errors found while the frame
    is collected are polars errors: raw.py reports them as "not a readable CSV table"."""
    if spec.stop_at_blank is not None or spec.unpivot is not None:
        raise ValueError(f"{spec.id}: scan_csv_table reads plain tables only")
    header = _record_widths_evidently_fine(path, file.header_row) if _scan_text(path) else None
    if header is None:
        header = _check_record_widths(path, _decode_text(path, path.read_bytes()), file.header_row)
    frame = pl.scan_csv(
        path, infer_schema=False, skip_rows=file.header_row - 1, truncate_ragged_lines=False
    )
    try:
        frame.collect_schema()
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        raise unreadable_csv(path, error, header) from error
    first = file.header_row + 1
    # As read_csv_table: a record with every cell of the file empty is layout, not a record.
    flagged = frame.with_columns(pl.all_horizontal(pl.all().is_null()).alias(_BLANK))
    shaped = _shape(path, spec, flagged, first_row_number=first, carry=(_BLANK,))
    return shaped.filter(~pl.col(_BLANK)).drop(_BLANK)


def read_xlsx_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """A table on one sheet of a workbook (.xlsx, or the older .xls: the format is read from
    the file's content, not its name), optionally continued on further sheets."""
    payload = path.read_bytes()
    if not payload:
        raise SourceFileError(path, "file is empty")
    if file.sheet is None:
        raise SourceFileError(path, "the catalogue names no sheet for this workbook")
    kind = path.suffix.lower() or "spreadsheet"
    if payload.lstrip()[:1] == b"<":
        # The department's site, and proxies, have served web pages under a .xls name.
        raise SourceFileError(
            path,
            f"not a readable {kind} workbook: the file is HTML or XML text (a web page saved "
            "under a spreadsheet name?), not a spreadsheet",
        )
    try:
        import fastexcel

        workbook = fastexcel.read_excel(payload)
    except Exception as error:  # fastexcel raises its own error types for corrupt workbooks
        raise SourceFileError(path, f"not a readable {kind} workbook: {error}") from error
    for sheet_name in (file.sheet, *file.beside_sheets):
        if sheet_name not in workbook.sheet_names:
            raise SourceFileError(
                path, f"sheet {sheet_name!r} not found; the workbook has {workbook.sheet_names}"
            )
    frame = _load_sheet(workbook, file.sheet, file)
    for sheet_name in file.beside_sheets:
        other = _load_sheet(workbook, sheet_name, file)
        frame = _beside(path, frame, file.sheet, other, sheet_name, file.header_row + 1)
    first = file.header_row + 1
    # Blank rows the catalogue says sit between the header and the first record are layout
    # (the older Revenue Outturn workbooks leave one); elsewhere a blank row ends the table.
    for _ in range(file.blank_rows_after_header):
        if frame.height and frame.row(0) == (None,) * frame.width:
            frame, first = frame.slice(1), first + 1
    # fastexcel names blank headers __UNNAMED__n; they are still kept, in `extra`.
    return _shape(path, spec, frame, first_row_number=first)


def _load_sheet(workbook: object, sheet_name: str, file: FileSpec) -> pl.DataFrame:
    sheet = workbook.load_sheet(  # type: ignore[attr-defined]
        sheet_name,
        header_row=file.header_row - 1,
        dtypes="string",
        skip_rows=0,
    )
    batch, errors = sheet.to_arrow_with_errors()
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    if errors is not None:
        frame = _with_formula_errors(frame, errors.errors)
    if file.group_header_row is not None:
        frame = _with_group_labels(workbook, sheet_name, file, frame)
    return frame


def _with_group_labels(
    workbook: object, sheet_name: str, file: FileSpec, frame: pl.DataFrame
) -> pl.DataFrame:
    """Headers as "<block label>: <header>", the block label being the last one written in
    the group header row at or left of the column (a merged cell keeps its text in its first
    cell). Columns left of the first label keep their header as it is."""
    assert file.group_header_row is not None
    top = workbook.load_sheet(  # type: ignore[attr-defined]
        sheet_name, header_row=None, n_rows=file.header_row, dtypes="string"
    ).to_polars()
    labels = top.row(file.group_header_row - 1) if top.height >= file.group_header_row else ()
    headers = top.row(file.header_row - 1) if top.height >= file.header_row else ()
    names: list[str] = []
    label: str | None = None
    for index, name in enumerate(frame.columns):
        cell = labels[index] if index < len(labels) else None
        if cell is not None and str(cell).strip():
            label = " ".join(str(cell).split())
        header = headers[index] if index < len(headers) else None
        text = " ".join(str(header).split()) if header is not None and str(header).strip() else None
        new = f"{label}: {text}" if label is not None and text is not None else name
        while new in names:
            new = f"{new} (again)"
        names.append(new)
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _beside(
    path: Path,
    frame: pl.DataFrame,
    sheet: str,
    other: pl.DataFrame,
    other_sheet: str,
    first_row_number: int,
) -> pl.DataFrame:
    """The columns of `other` (a further tab of the same table) that `frame` lacks, added
    beside it row for row. The tabs must list the same bodies in the same order: the first
    column (the key) is compared on every row of the table, and a tab out of line is refused."""
    key, other_key = frame.columns[0], other.columns[0]
    mine = frame.get_column(key)
    theirs = other.get_column(other_key)
    if theirs.len() < mine.len():
        theirs = theirs.extend(pl.Series([None] * (mine.len() - theirs.len()), dtype=pl.String))
    theirs = theirs.head(mine.len())
    differs = (mine.fill_null("") != theirs.fill_null("")) & mine.is_not_null()
    if differs.any():
        index = int(differs.arg_true()[0])
        raise SourceFileError(
            path,
            f"sheets {sheet!r} and {other_sheet!r} do not line up: on row "
            f"{first_row_number + index}, {key!r} is {mine[index]!r} in the first and "
            f"{theirs[index]!r} in the second",
        )
    added = [c for c in other.columns if c not in frame.columns and not c.startswith("__UNNAMED")]
    rows = other.select(added).head(frame.height)
    if rows.height < frame.height:
        rows = pl.concat([rows, pl.DataFrame(schema=rows.schema).clear(frame.height - rows.height)])
    return pl.concat([frame, rows], how="horizontal")


# Calamine's names for a cell holding a formula error, and the text Excel shows for it.
_FORMULA_ERRORS = {
    "Div0": "#DIV/0!",
    "NA": "#N/A",
    "Name": "#NAME?",
    "Null": "#NULL!",
    "Num": "#NUM!",
    "Ref": "#REF!",
    "Value": "#VALUE!",
    "GettingData": "#GETTING_DATA",
}


def _with_formula_errors(frame: pl.DataFrame, errors: list) -> pl.DataFrame:
    """fastexcel reads a cell holding a formula error (#DIV/0!, #REF!...) as empty, which would
    make a broken figure look like "no figure". Put back the text Excel shows, so validation
    quarantines it as a formula error, naming the cell."""
    cells: dict[str, dict[int, str]] = {}
    for error in errors:
        row, column = error.offset_position
        match = re.search(r"Error\((\w+)\)", str(error.detail))
        if match is None or column >= frame.width:
            continue
        text = _FORMULA_ERRORS.get(match.group(1), f"#{match.group(1).upper()}")
        cells.setdefault(frame.columns[column], {})[row] = text
    if not cells:
        return frame
    return frame.with_columns(
        pl.Series(
            name,
            [
                by_row.get(i, v)
                for i, v in enumerate(frame.get_column(name).cast(pl.String).to_list())
            ],
            dtype=pl.String,
        )
        for name, by_row in cells.items()
    )


def _open_workbook(path: Path):
    if not path.stat().st_size:
        raise SourceFileError(path, "file is empty")
    try:
        import fastexcel

        return fastexcel.read_excel(path)
    except Exception as error:  # fastexcel raises its own error types for corrupt workbooks
        raise SourceFileError(path, f"not a readable .xlsx workbook: {error}") from error


def read_xlsx_sheets(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """A workbook with one tab per period of the same table (a "live table"): every tab the
    catalogue lists is read with the same columns, and each row keeps its tab's name (also as
    `source_column`, so a row is identified by file, tab and row) and the tab's title line, which
    states the date the figures stand at. Rows with every cell empty (or only spaces) are
    layout, not records."""
    if not file.sheets:
        raise SourceFileError(path, "the catalogue names no sheets for this workbook")
    workbook = _open_workbook(path)
    missing = [sheet for sheet in file.sheets if sheet not in workbook.sheet_names]
    if missing:
        raise SourceFileError(
            path,
            f"sheet(s) {missing} not found (renamed or removed?); "
            f"the workbook has {workbook.sheet_names}",
        )
    frames: list[pl.DataFrame] = []
    for name in file.sheets:
        title = workbook.load_sheet(name, header_row=None, n_rows=1, dtypes="string")
        first_cells = [c for c in title.to_polars().row(0) if c is not None] if title.height else []
        batch, errors = workbook.load_sheet(
            name, header_row=file.header_row - 1, dtypes="string", skip_rows=0
        ).to_arrow_with_errors()
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        if errors is not None:
            frame = _with_formula_errors(frame, errors.errors)
        where = f"{path} [sheet {name!r}]"
        first = file.header_row + 1
        # Some tabs hold rows of empty-text cells between blocks: layout too.
        empty = pl.all().cast(pl.String).str.strip_chars().fill_null("") == ""
        blank = frame.select(pl.all_horizontal(empty).arg_true() + first)
        shaped = _shape(Path(where), spec, frame, first_row_number=first)
        frames.append(
            shaped.filter(
                ~pl.col(SOURCE_ROW).is_in(blank.to_series().cast(pl.Int64).implode())
            ).with_columns(
                pl.lit(name).alias(SOURCE_COLUMN),
                pl.lit(name).alias("sheet_name"),
                pl.lit(str(first_cells[0]) if first_cells else None, dtype=pl.String).alias(
                    "sheet_title"
                ),
            )
        )
    # Tabs match their headers in their own order: line the columns up by name.
    return pl.concat(frames, how="diagonal_relaxed")


def read_json_neighbours(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """A JSON object mapping each council code to the list of its nearest neighbours."""
    text = _decode_text(path, path.read_bytes())
    try:
        # Objects are read as lists of pairs: a council listed twice is two entries (and the
        # validated layer rejects both), not silently the last one.
        document = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as error:
        raise SourceFileError(
            path, f"not valid JSON: {error.msg} at line {error.lineno}"
        ) from error
    except RecursionError as error:
        raise SourceFileError(path, "not valid JSON: nested too deeply") from error
    if not isinstance(document, _Pairs):
        raise SourceFileError(path, "expected a JSON object of council code -> neighbour list")
    codes = [code for code, _ in document]
    return pl.DataFrame(
        {
            SOURCE_ROW: list(range(1, len(codes) + 1)),
            SOURCE_COLUMN: [None] * len(codes),
            "council_code": codes,
            "neighbour_codes": [json.dumps(_plain(value)) for _, value in document],
            EXTRA: [None] * len(codes),
        },
        schema={
            SOURCE_ROW: pl.Int64,
            SOURCE_COLUMN: pl.String,
            "council_code": pl.String,
            "neighbour_codes": pl.String,
            EXTRA: pl.String,
        },
    )


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, duplicates kept."""


def _plain(value: object) -> object:
    """A JSON value with its objects back as dicts, to store it as it was published."""
    if isinstance(value, _Pairs):
        return {key: _plain(item) for key, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _at(document: object, dotted: str) -> object:
    """The value at a dotted path (data.values) of a parsed JSON document; KeyError if absent."""
    value = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def read_json_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """A table inside a JSON document: a list of rows at `json_table.rows`, the first row its
    header, every cell a string (numbers are kept as the text JSON gives them). Where the
    document carries the MD5 of the compact JSON of the rows (`json_table.md5`), a file whose
    rows do not hash to it is not whole, and is refused."""
    assert spec.json_table is not None
    text = _decode_text(path, path.read_bytes())
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceFileError(
            path, f"not valid JSON: {error.msg} at line {error.lineno}"
        ) from error
    except RecursionError as error:
        raise SourceFileError(path, "not valid JSON: nested too deeply") from error
    try:
        rows = _at(document, spec.json_table.rows)
    except KeyError:
        raise SourceFileError(path, f"no table at {spec.json_table.rows!r}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise SourceFileError(
            path, f"{spec.json_table.rows!r} is not a list of rows (a header row, then records)"
        )
    if spec.json_table.md5 is not None:
        _check_md5(path, rows, document, spec.json_table.rows, spec.json_table.md5)
    header = rows[0]
    if not all(isinstance(h, str) and h.strip() for h in header):
        raise SourceFileError(
            path, f"the first row of {spec.json_table.rows!r} is not a header of names: {header}"
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise SourceFileError(
            path,
            f"the first row of {spec.json_table.rows!r} names {repeated} more than once: "
            "it is not a header (is the header row missing?)",
        )
    for number, record in enumerate(rows[1:], start=2):
        if len(record) != len(header):
            raise SourceFileError(
                path,
                f"row {number} of {spec.json_table.rows!r} has {len(record)} of the header's "
                f"{len(header)} cells: the file may be cut short, or the row is broken",
            )
        if any(isinstance(cell, (list, dict)) for cell in record):
            raise SourceFileError(
                path, f"row {number} of {spec.json_table.rows!r} holds a list or object in a cell"
            )
    columns = {
        name: [None if r[i] is None else _cell_text(r[i]) for r in rows[1:]]
        for i, name in enumerate(header)
    }
    frame = pl.DataFrame(columns, schema={name: pl.String for name in header})
    # Rows are numbered as entries of the list: the header is entry 1.
    return _shape(path, spec, frame, first_row_number=2)


def _cell_text(cell: object) -> str:
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)


def _check_md5(path: Path, rows: list, document: object, rows_at: str, md5_at: str) -> None:
    try:
        stated = _at(document, md5_at)
    except KeyError:
        raise SourceFileError(
            path, f"no checksum at {md5_at!r}: cannot tell whether the file is whole"
        ) from None
    # The publisher hashes the compact JSON of the rows; both escapings of non-ASCII text are
    # tried, as the publisher's serialiser is not documented.
    digests = {
        hashlib.md5(
            json.dumps(rows, separators=(",", ":"), ensure_ascii=ascii_only).encode("utf-8")
        ).hexdigest()
        for ascii_only in (False, True)
    }
    if str(stated).strip().lower() not in digests:
        raise SourceFileError(
            path,
            f"the file is not whole: the MD5 of {rows_at!r} is {sorted(digests)[0]} but "
            f"{md5_at!r} says {stated!r} (rows lost, added or changed since publication)",
        )


Reader = Callable[[Path, SourceSpec, FileSpec], pl.DataFrame]

READERS: dict[str, Reader] = {
    "csv_table": read_csv_table,
    "xlsx_table": read_xlsx_table,
    "json_neighbours": read_json_neighbours,
    "json_table": read_json_table,
    "xlsx_sheets": read_xlsx_sheets,
}


def read_source_file(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """Read one file of a source with the reader its layout names."""
    if not path.exists():
        raise SourceFileError(path, "file not found")
    try:
        reader = READERS[spec.layout]
    except KeyError:
        raise SourceFileError(path, f"unknown layout {spec.layout!r}") from None
    frame = reader(path, spec, file)
    return frame.select(SOURCE_ROW, SOURCE_COLUMN, *spec.raw_columns, EXTRA)


def can_scan(spec: SourceSpec) -> bool:
    """Whether scan_source_file can stream this source's files."""
    return spec.layout == "csv_table" and spec.stop_at_blank is None and spec.unpivot is None


def scan_source_file(path: Path, spec: SourceSpec, file: FileSpec) -> pl.LazyFrame:
    """read_source_file as a LazyFrame, for big CSV tables (see can_scan and scan_csv_table)."""
    if not path.exists():
        raise SourceFileError(path, "file not found")
    if not can_scan(spec):
        raise ValueError(f"{spec.id}: only plain CSV tables are streamed")
    frame = scan_csv_table(path, spec, file)
    return frame.select(SOURCE_ROW, SOURCE_COLUMN, *spec.raw_columns, EXTRA)
