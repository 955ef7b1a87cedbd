"""The source catalogue (`sources.yaml`) as typed objects.

The catalogue is configuration: adding a file to a source, or a new source of a known layout,
means editing the YAML, not the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_PATH = Path(__file__).with_name("sources.yaml")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
LAYOUTS = ("csv_table", "xlsx_table", "json_neighbours", "json_table", "xlsx_sheets")
# The xlsx_sheets layout adds these columns to every raw row: which tab it came from and the
# tab's title line (which states the date the figures stand at).
SHEET_COLUMNS = ["sheet_name", "sheet_title"]


class CatalogueError(ValueError):
    """The source catalogue itself is malformed."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a source: where it lives locally, where production downloads it from."""

    path: str
    url: str | None = None
    sheet: str | None = None
    header_row: int = 1
    period: str | None = None
    theme: str | None = None
    published: date | None = None
    # A row above the header whose labels (one per merged block, written in its first cell)
    # name the block of columns beneath: "Financial reserves levels at 31 March 2011".
    # Each header is then read as "<block label>: <header>".
    group_header_row: int | None = None
    # Further sheets of the same table, row for row (the department split a wide table over
    # several tabs): only their columns that the first sheet lacks are added beside it.
    beside_sheets: tuple[str, ...] = ()
    # Blank rows that may sit between the header and the first record (layout, not the end).
    blank_rows_after_header: int = 0
    # xlsx_sheets: every tab to read, each one period of the same table (all must be present).
    sheets: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnpivotSpec:
    """A wide table whose period columns become one raw row per cell."""

    header_pattern: str
    name_column: str
    value_column: str


@dataclass(frozen=True)
class JsonTableSpec:
    """A JSON document holding a table as a list of rows, the first row its header."""

    rows: str  # dotted path to the list of rows, e.g. data.values
    md5: str | None = None  # dotted path to the MD5 of the compact JSON of the rows


@dataclass(frozen=True)
class SourceSpec:
    """A source: its files, its layout, and the columns the pipeline needs from it."""

    id: str
    title: str
    publisher: str
    licence: str
    layout: str
    files: tuple[FileSpec, ...]
    columns: dict[str, str] = field(default_factory=dict)
    optional_columns: frozenset[str] = frozenset()
    publication_lag_days: int | None = None
    stop_at_blank: str | None = None
    unpivot: UnpivotSpec | None = None
    json_table: JsonTableSpec | None = None

    @property
    def raw_table(self) -> str:
        return f"raw.{self.id}"

    @property
    def raw_columns(self) -> list[str]:
        """The canonical columns a raw table holds, in catalogue order."""
        cols = list(self.columns)
        if self.unpivot is not None:
            cols += [self.unpivot.name_column, self.unpivot.value_column]
        if self.layout == "json_neighbours":
            cols += ["council_code", "neighbour_codes"]
        if self.layout == "xlsx_sheets":
            cols += SHEET_COLUMNS
        return cols


def _identifier(name: str, where: str) -> str:
    # Table and column names are built into DDL, so only plain identifiers are allowed.
    if not _IDENTIFIER.match(name):
        raise CatalogueError(f"{where}: {name!r} is not a plain lower-case identifier")
    return name


def _file_spec(raw: dict[str, Any], where: str) -> FileSpec:
    if "path" not in raw:
        raise CatalogueError(f"{where}: every file needs a path")
    published = raw.get("published")
    if isinstance(published, str):
        published = date.fromisoformat(published)
    return FileSpec(
        path=str(raw["path"]),
        url=raw.get("url"),
        sheet=raw.get("sheet"),
        header_row=int(raw.get("header_row", 1)),
        period=None if raw.get("period") is None else str(raw["period"]),
        theme=raw.get("theme"),
        published=published,
        group_header_row=None
        if raw.get("group_header_row") is None
        else int(raw["group_header_row"]),
        beside_sheets=tuple(str(s) for s in raw.get("beside_sheets") or ()),
        blank_rows_after_header=int(raw.get("blank_rows_after_header") or 0),
        sheets=tuple(str(sheet) for sheet in raw.get("sheets") or ()),
    )


def parse_catalogue(document: dict[str, Any]) -> dict[str, SourceSpec]:
    """Turn the YAML document into source specs, checking what the code relies on."""
    sources: dict[str, SourceSpec] = {}
    for source_id, raw in (document.get("sources") or {}).items():
        where = f"sources.yaml: {source_id}"
        _identifier(source_id, where)
        columns = {_identifier(k, where): str(v) for k, v in (raw.get("columns") or {}).items()}
        layout = raw.get("layout")
        if layout not in LAYOUTS:
            raise CatalogueError(f"{where}: layout {layout!r} is not one of {LAYOUTS}")
        stop_at_blank = raw.get("stop_at_blank")
        if stop_at_blank is not None and stop_at_blank not in columns:
            raise CatalogueError(f"{where}: stop_at_blank {stop_at_blank!r} names no column")
        unpivot = raw.get("unpivot")
        json_table = raw.get("json_table")
        if layout == "json_table" and not (json_table and json_table.get("rows")):
            raise CatalogueError(f"{where}: a json_table source needs json_table.rows")
        sources[source_id] = SourceSpec(
            id=source_id,
            title=raw.get("title", source_id),
            publisher=raw.get("publisher", ""),
            licence=raw.get("licence", ""),
            layout=layout,
            files=tuple(_file_spec(f, where) for f in raw.get("files", [])),
            columns=columns,
            optional_columns=frozenset(raw.get("optional_columns", [])),
            publication_lag_days=raw.get("publication_lag_days"),
            stop_at_blank=stop_at_blank,
            unpivot=None
            if unpivot is None
            else UnpivotSpec(
                header_pattern=unpivot["header_pattern"],
                name_column=_identifier(unpivot["name_column"], where),
                value_column=_identifier(unpivot["value_column"], where),
            ),
            json_table=None
            if json_table is None
            else JsonTableSpec(rows=str(json_table["rows"]), md5=json_table.get("md5")),
        )
    return sources


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, SourceSpec]:
    with path.open(encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle))
