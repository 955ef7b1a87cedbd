"""Focused tests: the warehouse's DuckDB memory limit, and exact-duplicate detection (whose
cheap first screen must never hide a real repeat)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from checks.validation import _exact_duplicates
from pipelines.profiles import Settings, resources_for
from pipelines.resources import Warehouse


def _memory_limit(warehouse: Warehouse) -> str:
    with warehouse.connect() as connection:
        row = connection.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def test_the_warehouse_applies_a_configured_memory_limit(tmp_path: Path) -> None:
    database = str(tmp_path / "w.duckdb")
    default = _memory_limit(Warehouse(database=database))
    limited = _memory_limit(Warehouse(database=database, memory_limit="300MB"))
    assert limited != default
    assert limited.replace(" ", "").upper().startswith(("286.1MIB", "300.0MB", "286MIB"))


def test_the_memory_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EARLY_WARNING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EARLY_WARNING_DUCKDB_MEMORY_LIMIT", "256MB")
    warehouse = resources_for(Settings.from_environment())["warehouse"]
    assert isinstance(warehouse, Warehouse) and warehouse.memory_limit == "256MB"
    monkeypatch.delenv("EARLY_WARNING_DUCKDB_MEMORY_LIMIT")
    warehouse = resources_for(Settings.from_environment())["warehouse"]
    assert isinstance(warehouse, Warehouse) and warehouse.memory_limit == ""


def _rows(values: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "load_id": ["L1"] * len(values),
            "source_path": ["f.csv"] * len(values),
            "file_sha256": ["x"] * len(values),
            "loaded_at": [None] * len(values),
            "source_row_number": list(range(2, 2 + len(values))),
            "source_column": [None] * len(values),
            "council_code": [v[0] for v in values],
            "value": [v[1] for v in values],
            "period_end": [v[2] for v in values],
        },
        schema_overrides={
            "loaded_at": pl.Datetime,
            "value": pl.Float64,
            "source_column": pl.String,
        },
    )


@pytest.mark.parametrize(
    ("values", "repeated_rows"),
    [
        # -0.0 and 0.0 compare equal, so the second row repeats the first.
        ([("E06000001", 0.0, date(2020, 3, 31)), ("E06000001", -0.0, date(2020, 3, 31))], [3]),
        # Missing cells are equal to missing cells.
        ([("E06000001", None, None), ("E06000002", 1.0, None), ("E06000001", None, None)], [4]),
        # One differing column is no repeat.
        ([("E06000001", 1.0, date(2020, 3, 31)), ("E06000001", 1.0, date(2021, 3, 31))], []),
        ([("E06000001", 1.5, None), ("E06000001", 1.5, None), ("E06000001", 1.5, None)], [3, 4]),
    ],
)
def test_exact_duplicates_are_found_whatever_the_screen(
    values: list[tuple], repeated_rows: list[int]
) -> None:
    frame = _rows(values)
    kept, failures = _exact_duplicates(frame, "example")
    quarantined = sorted(failures[0].get_column("source_row_number").to_list()) if failures else []
    assert quarantined == repeated_rows
    assert kept.height + len(quarantined) == frame.height


def test_a_stale_temporary_left_by_a_killed_write_is_removed_and_a_fresh_one_kept(
    tmp_path: Path,
) -> None:
    import os
    import time

    import pyarrow as pa

    from pipelines.resources import ParquetOutputs

    outputs = ParquetOutputs(output_dir=str(tmp_path))
    folder = outputs.partition_path("watchlist", "2019Q1").parent
    folder.mkdir(parents=True)
    stale, fresh = folder / ".part-0.killed.tmp", folder / ".part-0.writing.tmp"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"another writer's file")
    old = time.time() - ParquetOutputs.STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (old, old))
    written = outputs.write_partition("watchlist", "2019Q1", pa.table({"rank": [1, 2]}))
    assert written.is_file() and not stale.exists() and fresh.exists()
