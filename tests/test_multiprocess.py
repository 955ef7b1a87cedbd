"""The code location under Dagster's multiprocess executor, against the instance's pool limit.

Runs a job (by default `registers_only` of benchmarks/multiprocess.py: four registers with no
upstream, which could all run at once, and the register's validation; set
EARLY_WARNING_MULTIPROCESS_JOB=ingest_and_validate for every raw and validated asset, as
benchmarks/RESULTS.md reports) on a small fictional estate, each way in its own process with
its own DAGSTER_HOME, and reads the run's step events back:

- the shipped in-process executor (one process, steps one after another);
- the multiprocess executor with the shipped pool limit (`warehouse` pool, 1 step at a time):
  no two warehouse steps may overlap;
- with the ingest job only, the multiprocess executor with the pool limit raised to 2: steps
  overlap, and the second writer waits on DuckDB's file lock (the Warehouse resource retries),
  so it must still succeed, but gains nothing: every step writes the one DuckDB file.

    .venv/bin/pytest tests/test_multiprocess.py -q -p no:cacheprovider -s
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.synthetic import make_estate, write_estate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
JOB = os.environ.get("EARLY_WARNING_MULTIPROCESS_JOB", "registers_only")
INSTANCE = """
storage:
  sqlite:
    base_dir: {home}
telemetry:
  enabled: false
concurrency:
  pools:
    granularity: op
    default_limit: {limit}
"""


def _run(tmp: Path, data_dir: Path, name: str, limit: int, args: list[str]) -> dict:
    home = tmp / name / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(INSTANCE.format(home=home, limit=limit))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EARLY_WARNING_DATA_DIR": str(data_dir),
        "EARLY_WARNING_WAREHOUSE": str(tmp / name / "warehouse.duckdb"),
        "EARLY_WARNING_OUTPUT_DIR": str(tmp / name / "output"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.multiprocess", "--job", JOB, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
    os.environ["DAGSTER_HOME"], previous = str(home), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            records = instance.all_logs(lines["run_id"])
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous
    started: dict[str, float] = {}
    spans: list[tuple[float, float, str]] = []
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            spans.append((started[event.step_key], record.timestamp, event.step_key))
    most = max(sum(1 for s, e, _ in spans if s <= t < e) for t, _, _ in spans)
    return {
        "seconds": float(lines["seconds"]),
        "steps": sorted(key for _, _, key in spans),
        "most_at_once": most,
    }


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("estate") / "data"
    write_estate(data_dir, make_estate(scale=1.0, seed=7), seed=7)
    return data_dir


def test_multiprocess_executor_and_the_warehouse_pool(tmp_path: Path, estate: Path):
    in_process = _run(tmp_path, estate, "in_process", 1, ["--in-process"])
    pool_1 = _run(tmp_path, estate, "multiprocess_pool_1", 1, ["--max-concurrent", "2"])
    runs = [("in-process executor", in_process), ("multiprocess executor, pool limit 1", pool_1)]
    if JOB != "registers_only":
        # With the pool at 2, steps overlap and the second writer waits on DuckDB's file lock.
        pool_2 = _run(tmp_path, estate, "multiprocess_pool_2", 2, ["--max-concurrent", "2"])
        runs.append(("multiprocess executor, pool limit 2", pool_2))
        assert pool_2["steps"] == in_process["steps"]
    for name, run in runs:
        print(
            f"\n{name}: {run['seconds']:.1f} s, {len(run['steps'])} steps, "
            f"at most {run['most_at_once']} at once"
        )
    assert in_process["steps"] == pool_1["steps"]
    assert len(in_process["steps"]) >= (5 if JOB == "registers_only" else 30)
    assert in_process["most_at_once"] == 1
    # The instance's pool serialises warehouse steps even with a process per step.
    assert pool_1["most_at_once"] == 1
