"""Shared fixtures for the foundation tests (raw layer and validated layer).

Everything runs through Dagster's own `dagster.materialize`, as a user's run would, against a
DuckDB warehouse in a temporary directory. Nothing is ever written into the repository's `data/`.

- `real`: the real embedded data (repo `data/`, read only), materialised once per session.
- `fictional_base` / `fictional`: a small fictional estate (pipelines.synthetic) with a few files
  rewritten so that their values are known by construction, materialised once per session;
  `fictional` is a private copy (data directory and warehouse) a test may mutate and re-run.
- `estate_dir`: a fresh fictional estate directory with no warehouse.

Expected values are computed independently of the pipeline: from the construction of the
fixture, from the source file read with the csv module, or from `.xlsx` files read with
`xlsx_cells` (zipfile + XML, not the pipeline's reader).

Helpers are reached through fixtures and `Pipeline` methods rather than imported from this file.
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.definitions import all_assets
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import RS_FILES, RS_YEARS, Estate, _write_rs_workbook, make_estate
from pipelines.synthetic import write_estate as write_synthetic_estate

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_DIR = REPO / "data"
FICTIONAL_SEED = 11
FICTIONAL_SCALE = 0.1
# The foundation: every raw asset, every validated asset and the council code map.
FOUNDATION = dg.AssetSelection.groups("sources", "validated")

S114_CSV = "sources/registers/section114_notices.csv"
RS_XLSX = {year: f"sources/bbc_council_reserves/{name}" for year, name in RS_FILES.items()}
S114_HEADER = [
    "gss_code",
    "authority",
    "notice_date",
    "date_precision",
    "notice_number",
    "note",
    "source",
    "source_quality",
]


def write_csv(path: Path, rows: Iterable[Sequence[object]], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as handle:
        csv.writer(handle).writerows(rows)


def key_of(asset: str | dg.AssetKey) -> dg.AssetKey:
    return asset if isinstance(asset, dg.AssetKey) else dg.AssetKey(asset.split("/"))


def failure_text(failure_data: Any) -> str:
    """A step failure as the UI shows it: the error, every cause, any Failure description."""
    parts: list[str] = []
    error = failure_data.error
    while error is not None:
        parts.append(error.message)
        error = error.cause
    if failure_data.user_failure_data is not None:
        parts.append(failure_data.user_failure_data.description or "")
    return "\n".join(parts)


@dataclass
class Pipeline:
    """A data directory and a warehouse file: materialise, then read the run and the warehouse."""

    data_dir: Path
    database: Path
    result: dg.ExecuteInProcessResult | None = None

    # ---- running -----------------------------------------------------------------------------

    def materialize(
        self,
        selection: Sequence[str] | dg.AssetSelection | None = None,
        raise_on_error: bool = True,
        assets: Sequence[Any] | None = None,
    ) -> dg.ExecuteInProcessResult:
        self.result = dg.materialize(
            list(assets or all_assets),
            selection=FOUNDATION if selection is None else selection,
            resources={
                "warehouse": Warehouse(database=str(self.database)),
                "source_files": SourceFiles(data_dir=str(self.data_dir)),
                # Not used by the foundation; the code location's later assets require it.
                "parquet_outputs": ParquetOutputs(output_dir=str(self.database.parent / "out")),
            },
            raise_on_error=raise_on_error,
        )
        return self.result

    def _result(self, result: dg.ExecuteInProcessResult | None) -> dg.ExecuteInProcessResult:
        chosen = result or self.result
        assert chosen is not None, "materialize first"
        return chosen

    # ---- Dagster events ----------------------------------------------------------------------

    def failures(self, result: dg.ExecuteInProcessResult | None = None) -> dict[str, Any]:
        """step key -> STEP_FAILURE failure data."""
        return {
            event.step_key: event.step_failure_data
            for event in self._result(result).all_events
            if event.event_type_value == "STEP_FAILURE"
        }

    def failure(self, step_key: str, result: dg.ExecuteInProcessResult | None = None) -> str:
        failures = self.failures(result)
        assert step_key in failures, f"{step_key} did not fail; failures: {sorted(failures)}"
        return failure_text(failures[step_key])

    def check(
        self, asset: str, check_name: str, result: dg.ExecuteInProcessResult | None = None
    ) -> dg.AssetCheckEvaluation:
        matches = [
            e
            for e in self._result(result).get_asset_check_evaluations()
            if e.asset_key == key_of(asset) and e.check_name == check_name
        ]
        assert len(matches) == 1, f"{asset} {check_name}: {matches}"
        return matches[0]

    def metadata(self, asset: str, result: dg.ExecuteInProcessResult | None = None) -> dict:
        """The plain values of an asset's materialisation metadata in the run."""
        events = [
            e
            for e in self._result(result).get_asset_materialization_events()
            if e.asset_key == key_of(asset)
        ]
        assert len(events) == 1, f"{asset}: {len(events)} materialisations"
        return {k: v.value for k, v in events[0].materialization.metadata.items()}

    def materialized(self, result: dg.ExecuteInProcessResult | None = None) -> set[str]:
        return {
            e.asset_key.to_user_string()
            for e in self._result(result).get_asset_materialization_events()
        }

    # ---- the warehouse (opened read only, after materialize has returned) ---------------------

    def query(self, sql: str, params: dict | Sequence | None = None) -> list[tuple]:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: dict | Sequence | None = None) -> Any:
        rows = self.query(sql, params)
        assert len(rows) == 1, rows
        return rows[0][0]

    def dicts(self, sql: str, params: dict | Sequence | None = None) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            cursor = connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def frame(self, sql: str) -> pl.DataFrame:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            result = pl.from_arrow(connection.sql(sql).to_arrow_table())
        assert isinstance(result, pl.DataFrame)
        return result

    def quarantine(self, source_id: str, disposition: str | None = None) -> list[dict]:
        sql = "SELECT * FROM validated.quarantine WHERE source_id = ?"
        params: list[Any] = [source_id]
        if disposition is not None:
            sql += " AND disposition = ?"
            params.append(disposition)
        return self.dicts(sql + " ORDER BY source_path, source_row_number, column_name", params)

    def snapshot(self, table: str) -> set[tuple]:
        """Every row of a table as a set, to compare before and after a run."""
        return {tuple(_freeze(v) for v in row) for row in self.query(f"SELECT * FROM {table}")}

    # ---- source files --------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        return self.data_dir / relative

    def read_csv(self, relative: str) -> list[list[str]]:
        with self.path(relative).open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.reader(handle))

    def write_csv(self, relative: str, rows: Iterable[Sequence[object]], **kw: Any) -> Path:
        write_csv(self.path(relative), rows, **kw)
        return self.path(relative)

    def rewrite_csv(self, relative: str, change: Callable[[list[list[str]]], Any]) -> Path:
        """Read a CSV as rows (header first), let `change` edit them in place, write it back."""
        rows = self.read_csv(relative)
        change(rows)
        return self.write_csv(relative, rows)

    def write_s114(self, rows: Iterable[Sequence[object]]) -> Path:
        return self.write_csv(S114_CSV, [S114_HEADER, *rows])

    def write_rs(self, year: str, estate: Estate, values: dict) -> Path:
        """(Re)write one RS workbook with the generator; council i lands on spreadsheet row
        8 + i (the header is on row 7). `values`: {gss: {year: {"nre", "unallocated_end"...}}}."""
        path = self.path(RS_XLSX[year])
        path.unlink(missing_ok=True)
        _write_rs_workbook(path, year, estate, values)
        return path


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a DuckDB value (lists and structs come back as list/dict)."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def copy_pipeline(base: Pipeline, root: Path) -> Pipeline:
    root.mkdir(parents=True, exist_ok=True)
    copy = Pipeline(data_dir=root / "data", database=root / "w.duckdb")
    shutil.copytree(base.data_dir, copy.data_dir)
    shutil.copy2(base.database, copy.database)
    wal = base.database.with_name(base.database.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, copy.database.with_name(copy.database.name + ".wal"))
    return copy


# --------------------------------------------------------------------------------------------
# Independent readers of source files
# --------------------------------------------------------------------------------------------

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_T = f"{{{_NS['m']}}}t"


def _column_number(reference: str) -> int:
    number = 0
    for char in re.sub(r"\d", "", reference):
        number = number * 26 + ord(char) - 64
    return number


def read_xlsx_cells(path: Path, sheet: str) -> dict[tuple[int, int], str | float]:
    """{(spreadsheet row, column number from 1): value} of one sheet, read from its XML."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("pr:Relationship", _NS)}
        sheets = workbook.find("m:sheets", _NS)
        assert sheets is not None
        rel = next(s.get(_REL_ID) for s in sheets if s.get("name") == sheet)
        target = str(targets[rel]).lstrip("/")
        target = target if target.startswith("xl/") else f"xl/{target}"
        shared: list[str] = []
        if "xl/sharedStrings.xml" in archive.namelist():
            strings = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(_T)) for si in strings]
        root = ElementTree.fromstring(archive.read(target))
    cells: dict[tuple[int, int], str | float] = {}
    for cell in root.iter(f"{{{_NS['m']}}}c"):
        reference = str(cell.get("r"))
        where = (int(re.sub(r"[A-Z]", "", reference)), _column_number(reference))
        kind = cell.get("t")
        value = cell.find("m:v", _NS)
        if kind == "inlineStr":
            cells[where] = "".join(t.text or "" for t in cell.iter(_T))
        elif value is None or value.text is None:
            continue
        elif kind == "s":
            cells[where] = shared[int(value.text)]
        elif kind in ("str", "e", "b"):
            cells[where] = value.text
        else:
            cells[where] = float(value.text)
    return cells


def read_csv_records(path: Path) -> list[dict[str, str]]:
    """A CSV as dicts with the csv module, each with its line number in `__line__`."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        records = []
        for record in reader:
            record["__line__"] = str(reader.line_num)
            records.append(record)
        return records


@pytest.fixture(scope="session")
def xlsx_cells() -> Callable[[Path, str], dict[tuple[int, int], str | float]]:
    return read_xlsx_cells


@pytest.fixture(scope="session")
def csv_records() -> Callable[[Path], list[dict[str, str]]]:
    return read_csv_records


# --------------------------------------------------------------------------------------------
# The fictional estate, with values known by construction
# --------------------------------------------------------------------------------------------


def make_rs_values(estate: Estate) -> dict[str, dict[str, dict[str, Any]]]:
    """RS figures (£000) per council and year, chosen so each is recognisable."""
    return {
        council.gss_code: {
            year: {
                "nre": 10_000.125 + 1000 * i + y,
                "schools_start": 200 + i,
                "schools_end": 210 + i,
                "public_health_start": 50 + i,
                "public_health_end": 55 + i,
                "earmarked_start": 5000 + 10 * i + y,
                "earmarked_end": 4000 + 10 * i + y,
                "unallocated_start": 1000 + 10 * i + y,
                "unallocated_end": 900 + 10 * i + y,
            }
            for y, year in enumerate(RS_YEARS)
        }
        for i, council in enumerate(estate.councils)
    }


def make_s114_rows(estate: Estate) -> list[list[str]]:
    """Five notices, for the first five councils, one a year from 2018-03-01."""
    return [
        [
            council.gss_code,
            council.name,
            f"{2018 + i}-03-0{i + 1}",
            "day",
            str(i + 1),
            "",
            "https://example.org/s114",
            "fictional",
        ]
        for i, council in enumerate(estate.councils[:5])
    ]


@pytest.fixture(scope="session")
def estate() -> Estate:
    return make_estate(scale=FICTIONAL_SCALE, seed=FICTIONAL_SEED)


@pytest.fixture(scope="session")
def rs_values(estate: Estate) -> dict[str, dict[str, dict[str, Any]]]:
    return make_rs_values(estate)


@pytest.fixture(scope="session")
def s114_rows(estate: Estate) -> list[list[str]]:
    return make_s114_rows(estate)


@pytest.fixture(scope="session")
def fictional_base(
    tmp_path_factory: pytest.TempPathFactory,
    estate: Estate,
    rs_values: dict,
    s114_rows: list[list[str]],
) -> Pipeline:
    """The fictional estate (known RS figures and notices), materialised once. Never mutate it:
    take `fictional`, a private copy, instead."""
    root = tmp_path_factory.mktemp("fictional_base")
    pipeline = Pipeline(data_dir=root / "data", database=root / "w.duckdb")
    write_synthetic_estate(pipeline.data_dir, estate, seed=FICTIONAL_SEED)
    for year in RS_YEARS:
        pipeline.write_rs(year, estate, rs_values)
    pipeline.write_s114(s114_rows)
    pipeline.materialize(raise_on_error=False)
    return pipeline


@pytest.fixture(scope="session")
def copy_fictional(
    tmp_path_factory: pytest.TempPathFactory, fictional_base: Pipeline
) -> Callable[[str], Pipeline]:
    """A factory of private copies of the materialised fictional estate, for module fixtures
    that set up one mutated estate shared by several tests."""
    return lambda name: copy_pipeline(fictional_base, tmp_path_factory.mktemp(name))


@pytest.fixture
def fictional(tmp_path: Path, fictional_base: Pipeline) -> Pipeline:
    """A private copy of the materialised fictional estate: mutate files, re-run a selection."""
    return copy_pipeline(fictional_base, tmp_path / "copy")


@pytest.fixture
def estate_dir(tmp_path: Path) -> Path:
    """A fresh small fictional estate directory, as the generator writes it (no warehouse)."""
    data_dir = tmp_path / "estate"
    write_synthetic_estate(data_dir, make_estate(scale=FICTIONAL_SCALE, seed=5), seed=5)
    return data_dir


@pytest.fixture
def fresh(tmp_path: Path, estate_dir: Path) -> Pipeline:
    """`estate_dir` with an empty warehouse."""
    return Pipeline(data_dir=estate_dir, database=tmp_path / "fresh.duckdb")


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The real embedded data, materialised once into a temporary warehouse (data/ read only)."""
    root = tmp_path_factory.mktemp("real")
    pipeline = Pipeline(data_dir=REAL_DATA_DIR, database=root / "real.duckdb")
    pipeline.materialize(raise_on_error=False)
    return pipeline
