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
LAYOUTS = ("csv_table", "xlsx_table", "json_neighbours", "xlsx_sheets")
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
    # xlsx_sheets: every tab to read, each one period of the same table (all must be present).
    sheets: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnpivotSpec:
    """A wide table whose period columns become one raw row per cell."""

    header_pattern: str
    name_column: str
    value_column: str


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
        )
    return sources


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, SourceSpec]:
    with path.open(encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle))
