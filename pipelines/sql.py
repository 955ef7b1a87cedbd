"""Load SQL from `sql/`. Values always travel as parameters; only catalogue identifiers
(checked by `pipelines.catalogue`) are ever substituted into a statement's text."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import duckdb
import polars as pl

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
# A (schema- or alias-qualified) name, optionally followed by a column type, as in the column
# list of a CREATE TABLE; nothing else, so no comment, clause or second statement gets through.
_QUALIFIED = re.compile(
    r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?( (VARCHAR|BIGINT|DOUBLE|DATE|BOOLEAN|TIMESTAMP|JSON))?"
)


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. `load_sql("raw/find_load")`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def with_identifiers(name: str, **identifiers: str) -> str:
    """`load_sql(name)` with `{placeholders}` filled by plain identifiers only."""
    for key, value in identifiers.items():
        for part in value.split(","):
            if not _QUALIFIED.fullmatch(part.strip()):
                raise ValueError(f"{key}={value!r} is not a plain identifier")
    return load_sql(name).format(**identifiers)


def query_frame(
    connection: duckdb.DuckDBPyConnection, statement: str, params: dict | None = None
) -> pl.DataFrame:
    """Run a statement and return its result as a polars frame (via Arrow, no copy of types)."""
    result = connection.sql(statement, params=params or None).to_arrow_table()
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    return frame
