"""Step 1, sources -> raw: land every source file in DuckDB exactly as published.

Each file is hashed; a file whose hash is already loaded is not loaded again. New files are
appended row for row with their load id, path, hash, row number and load time. Nothing in the
raw layer is ever updated or deleted: a corrected file is a new load beside the old one.
"""

import hashlib
import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq

from assets.readers import (
    SourceFileError,
    can_scan,
    read_source_file,
    scan_source_file,
    unreadable_csv,
)
from checks.editions import EDITION_NOT_SHRUNK, SHRINK_RATIO, Edition, measure_editions
from pipelines.catalogue import FileSpec, SourceSpec, load_catalogue
from pipelines.resources import PathOutsideDataDirError, SourceFiles, Warehouse
from pipelines.sql import load_sql, with_identifiers

# A CSV table at least this big is streamed into the raw layer (readers.scan_source_file, via
# a Parquet file in a temporary directory) instead of being read into memory whole: the rows
# and the checks are the same, memory stays flat however big the file (the Data Explorer file
# is 2 GB at the benchmarks' 100x scale). benchmarks/test_streamed_raw_layer.py checks that
# both ways land the same rows.
STREAM_BYTES = 64 * 1024 * 1024
# While a big file is landed, and while any source is validated, DuckDB's buffer pool (80% of
# RAM by default, and kept, not given back) is held to this, so a process validating the 100x
# benchmark estate stays within about 2 GB; DuckDB spills to disk beyond it.
BIG_INPUT_DUCKDB_MEMORY = "512MB"


@contextmanager
def limited_memory(connection: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's memory limit set to `limit` for the block, then put back."""
    (previous,) = connection.execute("SELECT current_setting('memory_limit')").fetchone() or (None,)
    connection.execute("SET memory_limit = $limit", {"limit": limit})
    try:
        yield
    finally:
        if previous is not None:
            connection.execute("SET memory_limit = $limit", {"limit": previous})


@dataclass(frozen=True)
class FileLoad:
    """What landing one file did."""

    source_path: str
    load_id: str
    file_sha256: str
    row_count: int
    newly_loaded: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_raw_tables(connection: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    connection.execute(load_sql("raw/create_raw_schema"))
    columns = ",\n    ".join(f"{name} VARCHAR" for name in spec.raw_columns)
    connection.execute(
        with_identifiers("raw/create_source_table", table=spec.raw_table, columns=columns)
    )
    # A catalogue that gained a column adds it; earlier loads keep NULL there.
    existing = {
        row[0]
        for row in connection.execute(
            load_sql("raw/table_columns"), {"schema": "raw", "table": spec.id}
        ).fetchall()
    }
    for name in spec.raw_columns:
        if name not in existing:
            connection.execute(
                with_identifiers("raw/add_column", table=spec.raw_table, column=name)
            )


def land_file(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    file: FileSpec,
    path: Path,
    run_id: str | None,
) -> FileLoad:
    """Load one file into the raw layer unless the same bytes were already loaded from it."""
    if not path.is_file():
        raise SourceFileError(path, "file not found")
    ensure_raw_tables(connection, spec)
    sha = file_sha256(path)
    mark = load_sql("raw/mark_current_load")
    existing = connection.execute(
        load_sql("raw/find_load"),
        {"source_id": spec.id, "source_path": file.path, "file_sha256": sha},
    ).fetchone()
    if existing is not None:
        connection.execute(
            mark, {"source_id": spec.id, "source_path": file.path, "load_id": existing[0]}
        )
        return FileLoad(file.path, existing[0], sha, int(existing[1]), newly_loaded=False)

    if can_scan(spec) and path.stat().st_size >= STREAM_BYTES:
        with limited_memory(connection, BIG_INPUT_DUCKDB_MEMORY):
            return _land_stream(connection, spec, file, path, run_id, sha)
    frame: pl.DataFrame = read_source_file(path, spec, file)
    # String views: DuckDB reads polars' text as it is, without another copy.
    connection.register("incoming", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        return _append_load(connection, spec, file, path, run_id, sha, frame.height)
    finally:
        connection.unregister("incoming")


def _land_stream(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    file: FileSpec,
    path: Path,
    run_id: str | None,
    sha: str,
) -> FileLoad:
    """land_file for a big CSV table: the reader's rows are streamed to a Parquet file in a
    temporary directory, then appended from it, in file order, in one transaction."""
    rows = scan_source_file(path, spec, file)
    with tempfile.TemporaryDirectory(prefix=f"early-warning-{spec.id}-") as scratch:
        staged = Path(scratch) / "rows.parquet"
        try:
            rows.sink_parquet(staged, compression="lz4")
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
            raise unreadable_csv(path, error) from error
        row_count = pq.ParquetFile(staged).metadata.num_rows
        connection.read_parquet(str(staged)).create_view("incoming", replace=True)
        try:
            return _append_load(connection, spec, file, path, run_id, sha, row_count)
        finally:
            connection.execute("DROP VIEW IF EXISTS incoming")


def _append_load(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    file: FileSpec,
    path: Path,
    run_id: str | None,
    sha: str,
    row_count: int,
) -> FileLoad:
    """Record a new load of `file` and append its rows (the relation `incoming`) to the raw
    table, marking it current, in one transaction: a failure leaves no trace of the load."""
    load_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    header_map = {name: pattern for name, pattern in spec.columns.items()}
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            load_sql("raw/insert_load"),
            {
                "load_id": load_id,
                "source_id": spec.id,
                "source_path": file.path,
                "file_sha256": sha,
                "file_bytes": path.stat().st_size,
                "row_count": row_count,
                "loaded_at": loaded_at,
                "run_id": run_id,
                "period": file.period,
                "theme": file.theme,
                "published": file.published,
                "header_map": json.dumps(header_map),
            },
        )
        connection.execute(
            with_identifiers("raw/append_rows", table=spec.raw_table),
            {
                "load_id": load_id,
                "source_path": file.path,
                "file_sha256": sha,
                "loaded_at": loaded_at,
            },
        )
        connection.execute(
            load_sql("raw/mark_current_load"),
            {"source_id": spec.id, "source_path": file.path, "load_id": load_id},
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return FileLoad(file.path, load_id, sha, row_count, newly_loaded=True)


def _describe(loads: list[FileLoad]) -> dg.MetadataValue:
    lines = ["| file | sha256 | rows | this run |", "|---|---|---:|---|"]
    for load in loads:
        state = "loaded" if load.newly_loaded else "already loaded (same hash)"
        lines.append(
            f"| {load.source_path} | {load.file_sha256[:12]} | {load.row_count} | {state} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


def edition_check(spec: SourceSpec, editions: list[Edition]) -> dg.AssetCheckResult:
    """WARN when a file's new edition has far fewer rows, councils or years than the last."""
    shrunk = [(e, e.shrunk) for e in editions if e.shrunk]
    lines = [
        "| file | current edition (sha256) | edition replaced (sha256) | rows | councils | years |",
        "|---|---|---|---|---|---|",
    ]
    # File hashes rather than load ids or times: the table depends only on the files' content.
    for e in editions:
        lines.append(
            f"| {e.source_path} | {e.file_sha256[:12]} "
            f"| {(e.previous_file_sha256 or '')[:12] or 'none (first edition)'} "
            f"| {e.previous_rows} -> {e.rows} | {e.previous_councils} -> {e.councils} "
            f"| {e.previous_years} -> {e.years} |"
        )
    description = (
        "; ".join(
            f"{e.source_path}: the current edition (load {e.load_id}) has far fewer "
            f"{', '.join(measures)} than the edition it replaced (load {e.previous_load_id}); "
            "indicators built on it may be empty"
            for e, measures in shrunk
        )
        if shrunk
        else f"no current edition of {spec.id} is much smaller than the one it replaced"
    )
    return dg.AssetCheckResult(
        check_name=EDITION_NOT_SHRUNK,
        asset_key=dg.AssetKey(["raw", spec.id]),
        passed=not shrunk,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "editions": dg.MetadataValue.md("\n".join(lines)),
            "files_shrunk": len(shrunk),
            "rows_previous": sum(e.previous_rows or 0 for e, _ in shrunk),
            "rows_current": sum(e.rows for e, _ in shrunk),
        },
    )


def build_raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """One raw asset per catalogue source, all read by the same generic machinery."""

    @dg.asset(
        name=spec.id,
        key_prefix="raw",
        group_name="sources",
        kinds={"duckdb"},
        pool="warehouse",
        description=f"Raw rows of: {spec.title}. Publisher: {spec.publisher}. "
        f"Licence: {spec.licence}. Layout: {spec.layout}; every file kept as loaded.",
        metadata={"source_files": [f.path for f in spec.files], "licence": spec.licence},
        check_specs=[
            dg.AssetCheckSpec(
                EDITION_NOT_SHRUNK,
                asset=dg.AssetKey(["raw", spec.id]),
                description="No file's current edition has far fewer rows, councils or years "
                f"(under {SHRINK_RATIO:.0%}) than the edition it replaced (checks/editions.py).",
            )
        ],
    )
    def raw_source(
        context: dg.AssetExecutionContext, warehouse: Warehouse, source_files: SourceFiles
    ) -> dg.MaterializeResult:
        loads: list[FileLoad] = []
        with warehouse.connect() as connection:
            for file in spec.files:
                try:
                    path = source_files.fetch(spec.id, file)
                    context.log.info(f"{spec.id}: reading {path}")
                    load = land_file(connection, spec, file, path, context.run_id)
                except (SourceFileError, PathOutsideDataDirError, OSError) as error:
                    # Fail with the file and the reason in the message a user sees first.
                    raise dg.Failure(
                        description=f"{spec.id}: {error}",
                        metadata={"source": spec.id, "file": file.path},
                    ) from error
                verb = "loaded" if load.newly_loaded else "already loaded, skipped"
                context.log.info(f"{spec.id}: {file.path} {verb} ({load.row_count} rows)")
                loads.append(load)
            editions = measure_editions(connection, spec)
            total = connection.execute(
                with_identifiers("raw/count_rows", table=spec.raw_table)
            ).fetchone()
        for edition in editions:
            context.log.info(f"{spec.id}: current edition: {edition.current()}")
        return dg.MaterializeResult(
            check_results=[edition_check(spec, editions)],
            metadata={
                "files": _describe(loads),
                "dagster/row_count": sum(load.row_count for load in loads),
                "rows_loaded_this_run": sum(ld.row_count for ld in loads if ld.newly_loaded),
                "raw_rows_all_loads": int(total[0]) if total else 0,
                "table": spec.raw_table,
            },
        )

    return raw_source


raw_assets = [build_raw_asset(spec) for spec in load_catalogue().values()]
