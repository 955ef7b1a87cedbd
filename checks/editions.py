"""Whether a new edition of a source file is much smaller than the edition it replaces.

A corrected or newer file is a new load beside the old one, and the validated layer reads only
the current load. So a new edition with far fewer rows, councils or years than the last (a
Data Explorer file replaced by a header-only file, an extract cut to one year) would silently
empty the indicators built on it. Each raw asset reports the current edition of every file and
runs this comparison as its `edition_not_shrunk` check: a warning (WARN) with the previous and
current numbers, never a reason to stop, since a genuinely smaller edition does happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.catalogue import SourceSpec
from pipelines.sql import load_sql, query_frame, with_identifiers

EDITION_NOT_SHRUNK = "edition_not_shrunk"
# A measure below this share of the previous edition's is "far fewer".
SHRINK_RATIO = 0.5
COUNCIL_COLUMNS = ("council_code", "gss_code", "ecode", "register_code")
YEAR_COLUMNS = (
    "financial_year",
    "notice_date",
    "date_or_period",
    "challenge_date",
    "note_date",
)


def council_column(spec: SourceSpec) -> str | None:
    return next((c for c in COUNCIL_COLUMNS if c in spec.raw_columns), None)


def year_column(spec: SourceSpec) -> str | None:
    """The raw column a row's year is read from; None when the year is the file's own
    (one Revenue Outturn workbook per year) or the source has none (the register)."""
    if spec.unpivot is not None and "quarter" in spec.unpivot.name_column:
        return spec.unpivot.name_column
    return next((c for c in YEAR_COLUMNS if c in spec.raw_columns), None)


@dataclass(frozen=True)
class Edition:
    """One file's current load and the load it replaced, measured."""

    source_path: str
    load_id: str
    file_sha256: str
    loaded_at: datetime
    rows: int
    councils: int | None
    years: int | None
    previous_load_id: str | None
    previous_file_sha256: str | None
    previous_rows: int | None
    previous_councils: int | None
    previous_years: int | None

    @property
    def shrunk(self) -> list[str]:
        """The measures far below the previous edition's, e.g. 'rows 1200 -> 0'."""
        if self.previous_load_id is None:
            return []
        pairs = {
            "rows": (self.previous_rows, self.rows),
            "councils": (self.previous_councils, self.councils),
            "years": (self.previous_years, self.years),
        }
        return [
            f"{name} {before} -> {now}"
            for name, (before, now) in pairs.items()
            if before is not None and now is not None and now < SHRINK_RATIO * before
        ]

    def current(self) -> str:
        return (
            f"load {self.load_id}, {self.source_path}, sha256 {self.file_sha256}, "
            f"loaded {self.loaded_at:%Y-%m-%d %H:%M:%S} UTC"
        )


def _distinct(
    connection: duckdb.DuckDBPyConnection,
    query: str,
    spec: SourceSpec,
    column: str | None,
    load_ids: list[str],
) -> dict[str, int]:
    if column is None or not load_ids:
        return {}
    frame = query_frame(
        connection,
        with_identifiers(query, table=spec.raw_table, column=column),
        {"load_ids": load_ids},
    )
    return dict(zip(frame.get_column("load_id"), frame.get_column("n"), strict=True))


def measure_editions(connection: duckdb.DuckDBPyConnection, spec: SourceSpec) -> list[Edition]:
    """Every file's current edition beside the one it replaced (rows, councils, years)."""
    loads = query_frame(connection, load_sql("quality/edition_loads"), {"source_id": spec.id})
    ids = [i for i in [*loads["load_id"], *loads["previous_load_id"]] if i is not None]
    councils = _distinct(connection, "quality/load_councils", spec, council_column(spec), ids)
    years = _distinct(connection, "quality/load_years", spec, year_column(spec), ids)
    has_councils, has_years = council_column(spec) is not None, year_column(spec) is not None

    def count(found: dict[str, int], present: bool, load_id: str | None) -> int | None:
        return None if not present or load_id is None else int(found.get(load_id, 0))

    return [
        Edition(
            source_path=row["source_path"],
            load_id=row["load_id"],
            file_sha256=row["file_sha256"],
            loaded_at=row["loaded_at"],
            rows=int(row["row_count"]),
            councils=count(councils, has_councils, row["load_id"]),
            years=count(years, has_years, row["load_id"]),
            previous_load_id=row["previous_load_id"],
            previous_file_sha256=row["previous_file_sha256"],
            previous_rows=row["previous_row_count"],
            previous_councils=count(councils, has_councils, row["previous_load_id"]),
            previous_years=count(years, has_years, row["previous_load_id"]),
        )
        for row in loads.iter_rows(named=True)
    ]
