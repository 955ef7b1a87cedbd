"""Concurrent runs on a local SQLite instance (the repository's dagster.yaml: a
QueuedRunCoordinator, one run at a time, the `warehouse` pool limited to one step).

- Through the run queue: two `dagster job launch` commands submit the same job at the same
  moment; a `dagster-daemon` drains the queue. Both runs succeed, one after the other.
  No step of one run executes while a step of the other does.
- Bypassing the queue (`dagster.materialize`, as `early-warning run` and
  `dagster asset materialize` do): two processes materialise the same assets at the same
  moment. On PostgreSQL the `warehouse` pool keeps their steps apart
  (tests/test_instance_postgres.py). On SQLite it may not: Dagster claims a pool slot with
  `SELECT ... FOR UPDATE SKIP LOCKED` and then `UPDATE ... WHERE id = ?`, and SQLite ignores
  `FOR UPDATE`, so two claims at the same instant can both take the one slot. What still holds
  is DuckDB's own rule (one writing process; the `Warehouse` resource waits for the file rather
  than failing), so both runs succeed and the warehouse stays consistent; the test records how
  many steps overlapped.

Either way both runs succeed, no event-log message or captured log mentions a DuckDB lock
error, and the warehouse holds each file's load once, with every raw row accounted for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from concurrent_runs import accounted_rows, materialise_twice_at_once, overlapping, wait_for
from dagster._serdes import serialize_value

from pipelines.catalogue import load_catalogue
from pipelines.synthetic import make_estate, write_estate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
JOB = "ingest_and_validate"
POOL = "warehouse"
TIMEOUT = 300
# What DuckDB says when a second process opens a file another holds for writing.
LOCK_ERROR = re.compile(r"could not set lock|conflicting lock|lock on file", re.IGNORECASE)
STEP_START = dg.DagsterEventType.STEP_START
STEP_SUCCESS = dg.DagsterEventType.STEP_SUCCESS


class Home:
    """A DAGSTER_HOME with the repository's dagster.yaml, and a fictional estate to run on."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True)
        # dagster.yaml keeps its SQLite files under $DAGSTER_HOME: this process reads them too.
        monkeypatch.setenv("DAGSTER_HOME", str(self.home))
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")
        self.data_dir = root / "data"
        write_estate(self.data_dir, make_estate(scale=0.1, seed=13), seed=13)
        self.warehouse = self.data_dir / "warehouse" / "early_warning.duckdb"
        # Create the instance's SQLite storage once, as `make run` or `make dev` would first:
        # two processes creating a fresh instance at the same moment both stamp its schema
        # version, and it can no longer be opened ("more than one head present").
        self.instance().dispose()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING_")}
        env.update(DAGSTER_HOME=str(self.home), EARLY_WARNING_DATA_DIR=str(self.data_dir))
        return env

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    spans: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id, of_type={STEP_START, STEP_SUCCESS}):
        spans.setdefault(entry.step_key, []).append(entry.timestamp)
    assert all(len(times) == 2 for times in spans.values()), spans
    return {key: (times[0], times[1]) for key, times in spans.items()}


def run_span(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.start_time and record.end_time
    return record.start_time, record.end_time


def overlapping_steps(instance: dg.DagsterInstance, first: str, second: str) -> list[str]:
    """Pairs of steps, one from each run, that were executing at the same time."""
    a, b = step_spans(instance, first), step_spans(instance, second)
    assert a and set(a) == set(b), (sorted(a), sorted(b))  # the same assets, all of them
    return overlapping(a, b)


def assert_steps_never_overlap(instance: dg.DagsterInstance, first: str, second: str) -> int:
    assert overlapping_steps(instance, first, second) == []
    return len(step_spans(instance, first))


def assert_no_lock_error(instance: dg.DagsterInstance, run_ids: list[str], *texts: str) -> int:
    """No event of either run (messages, errors, metadata: the whole record) and no captured
    output mentions a DuckDB lock. Returns the number of events read."""
    events = 0
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            events += 1
            record = serialize_value(entry)
            assert not LOCK_ERROR.search(record), record[:2000]
    for text in texts:
        assert not LOCK_ERROR.search(text), LOCK_ERROR.search(text)
    return events


def assert_warehouse_consistent(warehouse: Path) -> None:
    """Each source file loaded once (neither run landed it twice), and raw = validated +
    quarantined for every source."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        loads = connection.execute(
            # Per source: one workbook can feed two sources (road condition, one per sheet).
            "SELECT source_id, source_path, count(*) FROM raw.loads GROUP BY source_id, source_path"
        ).fetchall()
        assert loads and all(n == 1 for *_, n in loads), loads
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'validated'"
            ).fetchall()
        }
        for source_id in load_catalogue():
            if source_id not in tables:
                continue  # not in this selection
            raw, valid, quarantined = accounted_rows(connection, source_id)
            assert raw == valid + quarantined, (source_id, raw, valid, quarantined)


# --------------------------------------------------------------------------------------------
# Through the run queue
# --------------------------------------------------------------------------------------------


@pytest.fixture
def daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Home, subprocess.Popen, Path]]:
    home = Home(tmp_path, monkeypatch)
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-m", "pipelines.definitions"],
            cwd=REPO,
            env=home.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the daemon, its code server and the run workers
        )
    try:
        yield home, process, log
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_two_runs_launched_at_once_through_the_queue_run_one_at_a_time(
    daemon: tuple[Home, subprocess.Popen, Path],
) -> None:
    home, process, daemon_log = daemon
    launches = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "job",
                "launch",
                "-m",
                "pipelines.definitions",
                "-j",
                JOB,
                "--tags",
                json.dumps({"launched_by": name}),
            ],
            cwd=REPO,
            env=home.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("first", "second")
    ]
    launch_output = wait_for(launches, "dagster job launch", TIMEOUT)

    instance = home.instance()
    try:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=JOB))
        assert len(runs) == 2, runs
        assert {r.tags["launched_by"] for r in runs} == {"first", "second"}
        run_ids = [r.run_id for r in runs]
        deadline = time.monotonic() + TIMEOUT
        while True:
            statuses = [instance.get_run_by_id(r).status for r in run_ids]
            if all(
                s in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for s in statuses
            ):
                break
            assert process.poll() is None, daemon_log.read_text()[-3000:]
            assert time.monotonic() < deadline, (statuses, daemon_log.read_text()[-3000:])
            time.sleep(1)
        assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2, daemon_log.read_text()[-3000:]

        # The queue let one run in at a time: the second started after the first ended.
        first, second = sorted(run_ids, key=lambda r: run_span(instance, r)[0])
        assert run_span(instance, first)[1] <= run_span(instance, second)[0]
        steps = assert_steps_never_overlap(instance, first, second)
        compute_logs = "\n".join(
            p.read_text(errors="replace")
            for p in (home.home / "storage").rglob("*")
            if p.is_file() and p.suffix in (".err", ".out")
        )
        events = assert_no_lock_error(
            instance, run_ids, daemon_log.read_text(), compute_logs, *launch_output
        )
        # Both went through the queue: each was QUEUED before it started.
        for run_id in run_ids:
            types = [e.dagster_event_type for e in instance.all_logs(run_id) if e.dagster_event]
            assert dg.DagsterEventType.RUN_ENQUEUED in types
            assert types.index(dg.DagsterEventType.RUN_ENQUEUED) < types.index(
                dg.DagsterEventType.RUN_START
            )
    finally:
        instance.dispose()
    assert_warehouse_consistent(home.warehouse)
    spans = [run_span(home.instance(), r) for r in (first, second)]
    print(
        f"\nrun queue: 2 runs of {JOB} submitted at once, {steps} steps each, both SUCCESS; "
        f"run 1 {datetime.fromtimestamp(spans[0][0]):%H:%M:%S}-"
        f"{datetime.fromtimestamp(spans[0][1]):%H:%M:%S}, run 2 "
        f"{datetime.fromtimestamp(spans[1][0]):%H:%M:%S}-"
        f"{datetime.fromtimestamp(spans[1][1]):%H:%M:%S}; {events} events read, "
        "no lock error"
    )


# --------------------------------------------------------------------------------------------
# Bypassing the queue: the pool
# --------------------------------------------------------------------------------------------


def test_two_runs_bypassing_the_queue_never_collide_in_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path, monkeypatch)
    # Every source's raw asset and the register's validation: the same assets in both runs.
    keys = [["raw", s] for s in sorted(load_catalogue())] + [["validated", "council_register"]]
    run_ids, outputs = materialise_twice_at_once(tmp_path / "barrier", keys, home.env, TIMEOUT)
    instance = home.instance()
    try:
        for run_id in run_ids:
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        spans = [run_span(instance, r) for r in run_ids]
        # The runs did overlap in time, so the pool had something to prevent...
        assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
        # ...and it mostly did; on SQLite a simultaneous claim can slip through (see above).
        steps = len(step_spans(instance, run_ids[0]))
        overlaps = overlapping_steps(instance, *run_ids)
        blocked = sum(
            1
            for run_id in run_ids
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if f"blocked by limit for pool {POOL}" in (e.message or "")
        )
        assert blocked >= 1, "neither run ever waited for the warehouse pool"
        events = assert_no_lock_error(instance, run_ids, *outputs)
        # The slots were all given back.
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert info.slot_count == 1 and not info.active_slot_count, info
    finally:
        instance.dispose()
    assert_warehouse_consistent(home.warehouse)
    print(
        f"\npool (SQLite): 2 runs bypassing the queue, {steps} steps each, both SUCCESS, "
        f"overlapping in time; {blocked} waits for the pool; {len(overlaps)} step pair(s) ran "
        f"at once (DuckDB's lock kept one writer): {overlaps}; {events} events read, "
        "no lock error"
    )
