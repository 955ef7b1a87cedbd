"""Step 1, sources -> raw: land every source file in DuckDB exactly as published.

Each file is hashed; a file whose hash is already loaded is not loaded again. New files are
appended row for row with their load id, path, hash, row number and load time. Nothing in the
raw layer is ever updated or deleted: a corrected file is a new load beside the old one.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from assets.readers import SourceFileError, read_source_file
from pipelines.catalogue import FileSpec, SourceSpec, load_catalogue
from pipelines.resources import PathOutsideDataDirError, SourceFiles, Warehouse
from pipelines.sql import load_sql, with_identifiers


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

    frame: pl.DataFrame = read_source_file(path, spec, file)
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
                "row_count": frame.height,
                "loaded_at": loaded_at,
                "run_id": run_id,
                "period": file.period,
                "theme": file.theme,
                "published": file.published,
                "header_map": json.dumps(header_map),
            },
        )
        connection.register("incoming", frame.to_arrow())
        connection.execute(
            with_identifiers("raw/append_rows", table=spec.raw_table),
            {
                "load_id": load_id,
                "source_path": file.path,
                "file_sha256": sha,
                "loaded_at": loaded_at,
            },
        )
        connection.unregister("incoming")
        connection.execute(
            mark, {"source_id": spec.id, "source_path": file.path, "load_id": load_id}
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return FileLoad(file.path, load_id, sha, frame.height, newly_loaded=True)


def _describe(loads: list[FileLoad]) -> dg.MetadataValue:
    lines = ["| file | sha256 | rows | this run |", "|---|---|---:|---|"]
    for load in loads:
        state = "loaded" if load.newly_loaded else "already loaded (same hash)"
        lines.append(
            f"| {load.source_path} | {load.file_sha256[:12]} | {load.row_count} | {state} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


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
            total = connection.execute(
                with_identifiers("raw/count_rows", table=spec.raw_table)
            ).fetchone()
        return dg.MaterializeResult(
            metadata={
                "files": _describe(loads),
                "dagster/row_count": sum(load.row_count for load in loads),
                "rows_loaded_this_run": sum(ld.row_count for ld in loads if ld.newly_loaded),
                "raw_rows_all_loads": int(total[0]) if total else 0,
                "table": spec.raw_table,
            }
        )

    return raw_source


raw_assets = [build_raw_asset(spec) for spec in load_catalogue().values()]
