"""Deployment profiles as data: which resources a run uses, chosen by one environment variable.

EARLY_WARNING_PROFILE=local (default)  read the files shipped in data/, offline.
EARLY_WARNING_PROFILE=production       download each source from its catalogue url.

Paths can be moved with EARLY_WARNING_DATA_DIR, EARLY_WARNING_WAREHOUSE and
EARLY_WARNING_OUTPUT_DIR; DuckDB's memory limit with EARLY_WARNING_DUCKDB_MEMORY_LIMIT
(e.g. 4GB; by default DuckDB's own, 80% of RAM); how long a run waits for the warehouse slot
held by another run with EARLY_WARNING_SLOT_WAIT_SECONDS (default 600). Instance storage (SQLite or
Postgres) is Dagster's own configuration: see dagster.yaml and deploy/production/dagster.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.recovery import DEFAULT_SLOT_WAIT_SECONDS
from pipelines.resources import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    ParquetOutputs,
    SourceFiles,
    Warehouse,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("local", "production")


@dataclass(frozen=True)
class Settings:
    profile: str
    data_dir: Path
    warehouse_path: Path
    output_dir: Path
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    # How long a run waits for the warehouse pool slot held by another live run before it gives
    # up naming that run (pipelines/recovery.py); a slot held by a killed run is freed at once.
    slot_wait_seconds: float = DEFAULT_SLOT_WAIT_SECONDS

    @classmethod
    def from_environment(cls) -> Settings:
        profile = os.environ.get("EARLY_WARNING_PROFILE", "local")
        if profile not in PROFILES:
            raise ValueError(f"EARLY_WARNING_PROFILE={profile!r}: choose one of {PROFILES}")
        data_dir = Path(os.environ.get("EARLY_WARNING_DATA_DIR", PROJECT_ROOT / "data"))
        return cls(
            profile=profile,
            data_dir=data_dir,
            warehouse_path=Path(
                os.environ.get(
                    "EARLY_WARNING_WAREHOUSE", data_dir / "warehouse" / "early_warning.duckdb"
                )
            ),
            output_dir=Path(os.environ.get("EARLY_WARNING_OUTPUT_DIR", data_dir / "output")),
            duckdb_memory_limit=os.environ.get(
                "EARLY_WARNING_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT
            ).strip(),
            slot_wait_seconds=_seconds(
                "EARLY_WARNING_SLOT_WAIT_SECONDS", DEFAULT_SLOT_WAIT_SECONDS
            ),
        )


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{variable}={text!r}: give a number of seconds, 0 or more")
    return value


def resources_for(settings: Settings) -> dict[str, object]:
    """The resources of a profile: the one place deployments differ."""
    return {
        "warehouse": Warehouse(
            database=str(settings.warehouse_path), memory_limit=settings.duckdb_memory_limit
        ),
        "parquet_outputs": ParquetOutputs(output_dir=str(settings.output_dir)),
        "source_files": SourceFiles(
            data_dir=str(settings.data_dir),
            mode="http" if settings.profile == "production" else "local",
            landing_dir=str(settings.data_dir / "landing"),
        ),
    }
