"""The pipeline's core at one scale, stage by stage, in this process.

    python -m benchmarks.core --scale 10 [--json out.json] [--profile out.prof]

Materialises the code location's own assets with `dagster.materialize`, one stage after the
other, against a fresh warehouse in a scratch directory (never the repository's `data/`):

    ingest      every raw asset (group `sources`): read, hash and land each source file
    validate    every validated asset, the council code map and the peer groups
    indicators  `indicators/indicator_values` for one quarter's partition
    scores      `scores/indicator_scores` for that quarter
    watchlist   `watchlist/watchlist` for that quarter (ranked table + Parquet outputs)

which is what the `ingest_and_validate` and `quarterly_watchlist` jobs run, minus the
Great Expectations and freshness asset checks (assets/quality.py; reported separately). Each
stage's wall time is measured around its `materialize` call, and its peak resident memory by
resetting the kernel's high-water mark (`/proc/self/clear_refs`) before it and reading `VmHWM`
after it, so the figure is that stage's own peak, imports and earlier stages' garbage included.
Run it in a fresh process per scale (benchmarks.run does) so one scale's peak is not another's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

QUARTER = "2019-01-01"  # 2019Q1: every shipped indicator family has public data by then
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RUNS = Path(os.environ.get("EARLY_WARNING_BENCH_CACHE", "/tmp/early-warning-bench")) / "runs"


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark (VmHWM), MiB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    if match:
        return int(match.group(1)) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _stages():
    import dagster as dg

    return [
        ("ingest", dg.AssetSelection.groups("sources"), None),
        (
            "validate",
            dg.AssetSelection.groups("validated")
            | dg.AssetSelection.assets(["indicators", "peer_groups"]),
            None,
        ),
        ("indicators", dg.AssetSelection.assets(["indicators", "indicator_values"]), QUARTER),
        ("scores", dg.AssetSelection.assets(["scores", "indicator_scores"]), QUARTER),
        ("watchlist", dg.AssetSelection.assets(["watchlist", "watchlist"]), QUARTER),
    ]


class RssSampler:
    """Samples this process's resident memory every few milliseconds in a thread, so each
    step's peak can be read off between its STEP_START and STEP_SUCCESS events (sampled, so a
    spike shorter than the interval can be missed; the stage figures use VmHWM, exact)."""

    def __init__(self, interval: float = 0.02) -> None:
        import threading

        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), current_rss_mib()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float | None:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return round(max(inside), 1) if inside else None


def _steps(instance, result, sampler: RssSampler) -> dict[str, dict]:
    """Each step's duration (from its Dagster events) and sampled peak RSS."""
    started: dict[str, float] = {}
    steps: dict[str, dict] = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            begin = started[event.step_key]
            steps[event.step_key] = {
                "seconds": round(event.event_specific_data.duration_ms / 1000, 3),
                "peak_rss_mib": sampler.peak_between(begin, record.timestamp),
            }
    return steps


def run_core(
    data_dir: Path,
    work_dir: Path,
    profile: Path | None = None,
    duckdb_memory_limit: str | None = None,
) -> dict:
    """Materialise the core stages on `data_dir`; the warehouse and outputs go to `work_dir`."""
    import logging

    import dagster as dg

    from pipelines.definitions import all_assets
    from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse

    logging.getLogger("dagster").setLevel(logging.WARNING)
    work_dir.mkdir(parents=True, exist_ok=True)
    database = work_dir / "warehouse.duckdb"
    for leftover in (database, database.with_name(database.name + ".wal")):
        leftover.unlink(missing_ok=True)
    resources = {
        "warehouse": (
            Warehouse(database=str(database))
            if duckdb_memory_limit is None
            else Warehouse(database=str(database), memory_limit=duckdb_memory_limit)
        ),
        "source_files": SourceFiles(data_dir=str(data_dir)),
        "parquet_outputs": ParquetOutputs(output_dir=str(work_dir / "output")),
    }
    instance = dg.DagsterInstance.ephemeral()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    stages = []
    for name, selection, partition in _stages():
        reset = reset_peak_rss()
        before = current_rss_mib()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        with RssSampler() as sampler:
            result = dg.materialize(
                all_assets,
                selection=selection,
                partition_key=partition,
                resources=resources,
                instance=instance,
                raise_on_error=False,
                run_config=QUIET,
            )
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        if not result.success:
            failures = [
                f"{e.step_key}: {e.step_failure_data.error.message.strip()[:500]}"
                for e in result.all_events
                if e.is_step_failure and e.step_failure_data
            ]
            raise RuntimeError(f"stage {name} failed: {failures}")
        stages.append(
            {
                "stage": name,
                "partition": partition,
                "seconds": round(seconds, 3),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "rss_before_mib": round(before, 1),
                "peak_is_per_stage": reset,
                "steps": _steps(instance, result, sampler),
            }
        )
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        counts = dict(
            connection.execute(
                """
                SELECT 'raw data explorer rows', count(*) FROM raw.data_explorer_metrics
                UNION ALL SELECT 'validated data explorer rows', count(*)
                    FROM validated.data_explorer_metrics
                UNION ALL SELECT 'councils', count(*) FROM validated.council_register
                UNION ALL SELECT 'indicator values', count(*) FROM indicators.indicator_values
                UNION ALL SELECT 'indicator scores', count(*) FROM scores.indicator_scores
                UNION ALL SELECT 'watchlist rows', count(*) FROM watchlist.watchlist
                """
            ).fetchall()
        )
    return {
        "quarter": QUARTER,
        "stages": stages,
        "total_seconds": round(sum(s["seconds"] for s in stages), 3),
        "peak_rss_mib": max(s["peak_rss_mib"] for s in stages),
        "counts": counts,
        "warehouse": str(database),
        "warehouse_bytes": database.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--data-dir", type=Path, help="default: the cached fictional estate")
    parser.add_argument("--work-dir", type=Path, help="default: <cache>/runs/scale-<scale>")
    parser.add_argument("--json", type=Path, help="write the result here as well as stdout")
    parser.add_argument("--profile", type=Path, help="cProfile the stages into this file")
    parser.add_argument(
        "--duckdb-memory-limit",
        help="DuckDB's memory_limit on every warehouse connection (e.g. 2GB; '' for DuckDB's "
        "own default, 80%% of RAM); default: the Warehouse resource's default",
    )
    args = parser.parse_args(argv)
    from benchmarks.estates import estate_dir

    data_dir = args.data_dir or estate_dir(args.scale)
    work_dir = args.work_dir or RUNS / f"scale-{args.scale:g}"
    measured = run_core(data_dir, work_dir, args.profile, args.duckdb_memory_limit)
    result = {
        "scale": args.scale,
        "data_dir": str(data_dir),
        "duckdb_memory_limit": args.duckdb_memory_limit,
        **measured,
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
