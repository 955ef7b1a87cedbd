"""Resources: where the warehouse lives and where source files come from.

Deployment differences (local files or HTTP downloads, the warehouse path) are configuration of
these resources, chosen in `pipelines.profiles`; asset code never decides them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.catalogue import FileSpec


class PathOutsideDataDirError(ValueError):
    """A configured path points outside the configured data directories."""


def confined(base: Path, relative: str) -> Path:
    """`base / relative`, refusing anything that escapes `base` (.., absolute paths, links)."""
    base = base.resolve()
    candidate = (base / relative).resolve()
    if candidate != base and base not in candidate.parents:
        raise PathOutsideDataDirError(f"{relative!r} resolves outside the data directory {base}")
    return candidate


# DuckDB's own default (80% of RAM). A lower limit makes DuckDB spill to disk sooner, but the
# scoring query cannot spill everything: at 100 times England's councils it ran out of memory
# in some runs with 1 GB and with 1.5 GB, and needs about 1.6 GB without a limit
# (benchmarks/RESULTS.md), so a limit is a deployment's choice, not a default.
DEFAULT_DUCKDB_MEMORY_LIMIT = ""


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file. DuckDB allows one writing process at a time, so connections
    wait and retry briefly when another process holds the file rather than failing the step."""

    database: str
    lock_timeout_seconds: float = 120.0
    # DuckDB's `memory_limit` on every connection (e.g. "4GB"); beyond it DuckDB spills to
    # temporary files. Empty: DuckDB's default, 80% of RAM.
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                connection = duckdb.connect(self.database, read_only=read_only)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            if self.memory_limit:
                connection.execute("SET memory_limit = $limit", {"limit": self.memory_limit})
            yield connection
        finally:
            connection.close()


class SourceFiles(dg.ConfigurableResource):
    """Where source files are read from.

    `local` (the default) reads the files shipped under `data_dir`. `http` downloads each
    file's catalogue `url` into `landing_dir` first (atomically, keeping every version by its
    hash), so a production run reads what was published, and the raw layer still records it.
    """

    data_dir: str
    mode: str = "local"
    landing_dir: str = ""
    timeout_seconds: float = 60.0

    def fetch(self, source_id: str, file: FileSpec) -> Path:
        if self.mode == "local":
            return confined(Path(self.data_dir), file.path)
        if self.mode != "http":
            raise ValueError(f"unknown source mode {self.mode!r}: use 'local' or 'http'")
        if not file.url:
            raise ValueError(f"{source_id}: {file.path} has no url for the http profile")
        if not file.url.startswith(("https://", "http://")):
            raise ValueError(f"{source_id}: only http(s) urls are fetched, not {file.url!r}")
        landing = Path(self.landing_dir or Path(self.data_dir) / "landing") / source_id
        landing.mkdir(parents=True, exist_ok=True)
        name = Path(file.path).name
        handle, temp_name = tempfile.mkstemp(dir=landing, prefix=f".{name}.", suffix=".part")
        digest = hashlib.sha256()
        try:
            with (
                os.fdopen(handle, "wb") as out,
                urllib.request.urlopen(file.url, timeout=self.timeout_seconds) as response,
            ):
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            target = landing / f"{digest.hexdigest()[:16]}-{name}"
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target


class ParquetOutputs(dg.ConfigurableResource):
    """Where the published Parquet datasets go: `<output_dir>/<dataset>/quarter=<label>/`.

    Each file is written to a temporary name in the same folder and renamed into place, so a
    reader (or a run killed half way) only ever sees a previous complete file or the new one.
    """

    output_dir: str

    # A temporary file older than this was left by a run killed between writing and renaming
    # (no writer takes minutes over one partition's file): readers skip it, this removes it.
    STALE_TEMPORARY_SECONDS: ClassVar[float] = 600.0

    def _remove_stale_temporaries(self, folder: Path) -> None:
        cutoff = time.time() - self.STALE_TEMPORARY_SECONDS
        for leftover in folder.glob(".part-0.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def partition_path(self, dataset: str, quarter: str) -> Path:
        if not dataset.isidentifier() or not quarter.replace("Q", "").isdigit():
            raise ValueError(f"unexpected dataset {dataset!r} or quarter {quarter!r}")
        return Path(self.output_dir) / dataset / f"quarter={quarter}" / "part-0.parquet"

    def write_partition(self, dataset: str, quarter: str, table: pa.Table) -> Path:
        target = self.partition_path(dataset, quarter)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries(target.parent)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-0.", suffix=".tmp")
        os.close(handle)
        try:
            pq.write_table(table, temp_name, compression="zstd")
            with open(temp_name, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target
