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

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pipelines.catalogue import FileSpec, SourceSpec

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
        hint = ""
        if len(headers) == 1 and any(d in headers[0] for d in (";", "\t", "|")):
            hint = "; the header is one column, so the file may use another delimiter"
        raise SourceFileError(
            path,
            f"missing required column(s): {', '.join(missing)}; headers found: {headers}{hint}",
        )
    return matched


def _shape(
    path: Path, spec: SourceSpec, frame: pl.DataFrame, first_row_number: int
) -> pl.DataFrame:
    """Rename matched columns, keep the rest as JSON, number the rows as a person sees them."""
    headers = [c for c in frame.columns]
    matched = _match_columns(path, spec, headers)
    frame = frame.with_row_index(SOURCE_ROW, offset=first_row_number).with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64)
    )
    if spec.stop_at_blank:
        stop_col = matched[spec.stop_at_blank]
        blank = frame.select(pl.col(stop_col).is_null().arg_true().first()).item()
        if blank is not None:
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
        pl.struct([pl.col(h) for h in extra_headers]).struct.json_encode()
        if extra_headers
        else pl.lit(None, dtype=pl.String)
    )
    shaped = frame.select(
        pl.col(SOURCE_ROW),
        *[pl.col(header).alias(name) for name, header in matched.items()],
        *[pl.lit(None, dtype=pl.String).alias(n) for n in spec.columns if n not in matched],
        *[pl.col(h) for h in value_headers],
        extra.alias(EXTRA),
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


def read_csv_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    text = _decode_text(path, path.read_bytes())
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            infer_schema=False,
            skip_rows=file.header_row - 1,
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise SourceFileError(path, f"not a readable CSV table: {first_line}") from error
    # A person counts the header line as line 1, so the first record is on the next line.
    shaped = _shape(path, spec, frame, first_row_number=file.header_row + 1)
    # A blank line (every cell empty) is layout, not a record: hand-edited registers end in one.
    content = [c for c in shaped.columns if c not in (SOURCE_ROW, SOURCE_COLUMN)]
    return shaped.filter(~pl.all_horizontal(pl.col(content).is_null()))


def read_xlsx_table(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    if not path.stat().st_size:
        raise SourceFileError(path, "file is empty")
    if file.sheet is None:
        raise SourceFileError(path, "the catalogue names no sheet for this workbook")
    try:
        import fastexcel

        workbook = fastexcel.read_excel(path)
    except Exception as error:  # fastexcel raises its own error types for corrupt workbooks
        raise SourceFileError(path, f"not a readable .xlsx workbook: {error}") from error
    if file.sheet not in workbook.sheet_names:
        raise SourceFileError(
            path, f"sheet {file.sheet!r} not found; the workbook has {workbook.sheet_names}"
        )
    sheet = workbook.load_sheet(
        file.sheet,
        header_row=file.header_row - 1,
        dtypes="string",
        skip_rows=0,
    )
    frame = sheet.to_polars()
    # fastexcel names blank headers __UNNAMED__n; they are still kept, in `extra`.
    return _shape(path, spec, frame, first_row_number=file.header_row + 1)


def read_json_neighbours(path: Path, spec: SourceSpec, file: FileSpec) -> pl.DataFrame:
    """A JSON object mapping each council code to the list of its nearest neighbours."""
    text = _decode_text(path, path.read_bytes())
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceFileError(
            path, f"not valid JSON: {error.msg} at line {error.lineno}"
        ) from error
    if not isinstance(document, dict):
        raise SourceFileError(path, "expected a JSON object of council code -> neighbour list")
    codes = list(document)
    return pl.DataFrame(
        {
            SOURCE_ROW: list(range(1, len(codes) + 1)),
            SOURCE_COLUMN: [None] * len(codes),
            "council_code": codes,
            "neighbour_codes": [json.dumps(document[c]) for c in codes],
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


Reader = Callable[[Path, SourceSpec, FileSpec], pl.DataFrame]

READERS: dict[str, Reader] = {
    "csv_table": read_csv_table,
    "xlsx_table": read_xlsx_table,
    "json_neighbours": read_json_neighbours,
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
