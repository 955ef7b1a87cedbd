"""A new edition of a source file much smaller than the one it replaces raises a warning
(`edition_not_shrunk` on the raw asset, checks/editions.py), and the log says which edition is
current. Expected numbers are read from the fixture file with the csv module."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from checks.editions import Edition

ASSET = "raw/data_explorer_metrics"
FILE = "sources/oflog_asc/ASC_data.csv"


def profile(path: Path) -> tuple[int, int, int]:
    """Rows, distinct council codes and distinct financial years of a Data Explorer file."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    code = next(k for k in rows[0] if k.strip().lower() == "local authority code")
    year = next(k for k in rows[0] if k.strip().lower() == "financial year")
    years = {re.search(r"(19|20)\d\d", r[year]).group(0) for r in rows}  # type: ignore[union-attr]
    return len(rows), len({r[code] for r in rows}), len(years)


def test_a_header_only_edition_warns_with_the_numbers_and_the_log_names_the_current_one(
    fresh, capfd: pytest.CaptureFixture[str]
) -> None:
    path = fresh.data_dir / FILE
    rows, councils, years = profile(path)
    assert rows > 100 and councils > 10 and years > 2

    fresh.materialize([ASSET])
    first = fresh.check(ASSET, "edition_not_shrunk")
    assert first.passed  # a first edition has nothing to shrink from

    # The next edition is the header alone.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines(keepends=True)
    path.write_text(lines[0], encoding="utf-8")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    capfd.readouterr()
    fresh.materialize([ASSET])
    log = capfd.readouterr().err
    evaluation = fresh.check(ASSET, "edition_not_shrunk")

    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    description = evaluation.description or ""
    assert f"{FILE}: the current edition" in description
    assert f"rows {rows} -> 0, councils {councils} -> 0, years {years} -> 0" in description
    table = evaluation.metadata["editions"].value
    assert f"| {rows} -> 0 | {councils} -> 0 | {years} -> 0 |" in table
    (current_load,) = fresh.query(
        "SELECT l.load_id, l.loaded_at FROM raw.current_loads c JOIN raw.loads l USING (load_id) "
        "WHERE c.source_id = 'data_explorer_metrics'"
    )
    expected = (
        f"data_explorer_metrics: current edition: load {current_load[0]}, {FILE}, sha256 {sha}, "
        f"loaded {current_load[1]:%Y-%m-%d %H:%M:%S} UTC"
    )
    assert expected in log

    # The full file again: not smaller than the header-only edition it replaces.
    path.write_text("".join(lines), encoding="utf-8")
    fresh.materialize([ASSET])
    assert fresh.check(ASSET, "edition_not_shrunk").passed


def test_far_fewer_means_under_half_of_any_measure() -> None:
    def edition(rows: int, councils: int | None, years: int | None) -> Edition:
        return Edition(
            source_path="sources/x.csv",
            load_id="new",
            file_sha256="0" * 64,
            loaded_at=datetime(2026, 12, 7),
            rows=rows,
            councils=councils,
            years=years,
            previous_load_id="old",
            previous_file_sha256="1" * 64,
            previous_rows=1000,
            previous_councils=150,
            previous_years=10,
        )

    assert edition(500, 75, 5).shrunk == []
    assert edition(499, 150, 10).shrunk == ["rows 1000 -> 499"]
    assert edition(1000, 74, 4).shrunk == ["councils 150 -> 74", "years 10 -> 4"]
    assert edition(10, None, None).shrunk == ["rows 1000 -> 10"]  # a source without them
