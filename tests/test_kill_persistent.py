"""Killed runs on the instance `make run` uses: a SIGKILLed run must never hang the next one.

tests/test_kill.py kills the CLI on an ephemeral instance, where nothing outlives the process.
Here the CLI runs as `make run` runs it: the repository's `dagster.yaml` in a DAGSTER_HOME that
persists between the kills. A run killed while its step holds the `warehouse` pool slot stays
`STARTED` there and keeps the slot; before the fix every later run waited for that slot for ever
(at 100% CPU). After one complete run (T: time to its last output) the run is started KILLS times
and SIGKILLed (with its process group) after a seeded random delay, one in each KILLS-th of
[0, T]; then a last run must finish within RUN_TIMEOUT, and afterwards no run of the instance is
left unfinished and no pool slot is held. The figures (where the kills landed, runs recovered,
slots freed, the recovering run's time) are printed.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from pipelines.recovery import PID_TAG, POOL
from pipelines.synthetic import make_estate, write_estate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SEED = 20_261_207
KILLS = 5
RUN_TIMEOUT = 240  # a hang fails the test rather than blocking it
LAST_LINE = "Backtest report:"
RECOVERED = "Recovered after a crash"
SLOTS_FREED = re.compile(r"(\d+) pool slot\(s\) freed")
PHASES = [
    ("Ingesting and validating", "ingest"),
    ("Building watchlists", "quarters"),
    ("Backtesting", "backtest"),
    ("writing briefing packs", "briefing packs"),
    ("Warehouse (DuckDB)", "finished"),
]


def environment(data_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING_")}
    env |= {
        "DAGSTER_HOME": str(home),
        "EARLY_WARNING_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    return env


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "run", "--from", "2018Q4", "--to", "2019Q2"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole as an OOM kill would
        )


def run_to_the_end(env: dict[str, str], log: Path) -> float:
    """Seconds until the run printed its last line; fails if it overruns RUN_TIMEOUT."""
    started = time.monotonic()
    process = start_run(env, log)
    written = None
    while process.poll() is None:
        if written is None and LAST_LINE in log.read_text(errors="replace"):
            written = time.monotonic() - started
        if time.monotonic() - started > RUN_TIMEOUT:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"the run hung for {RUN_TIMEOUT} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    assert process.returncode == 0, log.read_text()[-3000:]
    return written if written is not None else time.monotonic() - started


def phase_of(text: str) -> str:
    reached = "starting (imports)"
    for marker, phase in PHASES:
        if marker in text:
            reached = phase
    return reached


def test_killed_runs_on_a_persistent_instance_never_hang_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    began = time.monotonic()
    data_dir, home, logs = tmp_path / "data", tmp_path / "dagster_home", tmp_path / "logs"
    write_estate(data_dir, make_estate(scale=0.1, seed=7), seed=7)
    home.mkdir()
    logs.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # what `make run` does
    env = environment(data_dir, home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml reads it, here too

    period = run_to_the_end(env, logs / "complete.log")
    rng = random.Random(SEED)
    delays = [period * (k + rng.random()) / KILLS for k in range(KILLS)]
    rng.shuffle(delays)
    phases: Counter = Counter()
    for attempt, delay in enumerate(delays):
        log = logs / f"kill-{attempt}.log"
        process = start_run(env, log)
        try:
            process.wait(timeout=delay)
            phases["finished before the kill"] += 1
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            phases[phase_of(log.read_text(errors="replace"))] += 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        left = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        slots_before = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots

    final_log = logs / "final.log"
    final = run_to_the_end(env, final_log)

    kill_logs = [logs / f"kill-{attempt}.log" for attempt in range(KILLS)]
    recoveries = [
        line
        for path in [*kill_logs, final_log]
        for line in path.read_text(errors="replace").splitlines()
        if line.startswith(RECOVERED)
    ]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        unfinished = instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                ]
            )
        )
        info = instance.event_log_storage.get_concurrency_info(POOL)
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        # Every killed run the CLI had started, and only those, was marked failed, with the
        # reason in its event log.
        killed_runs = [run for run in failed if PID_TAG in run.tags]
        for run in killed_runs:
            failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "was killed" in (failure[-1].message or ""), failure
    assert unfinished == [], [(r.run_id, r.status) for r in unfinished]
    assert info.claimed_slots == [] and info.pending_steps == [], info
    # The kills did leave runs STARTED (at least one holding the slot): the test exercised
    # recovery, and every recovery is in some run's output.
    assert left or recoveries, "no kill landed while a run was in progress"
    assert len(recoveries) == len(killed_runs), recoveries
    assert (data_dir / "output" / "backtest" / "backtest.md").is_file()

    figures = {
        "kills": KILLS,
        "complete_run_seconds": round(period, 1),
        "kill_delays_seconds": sorted(round(d, 1) for d in delays),
        "killed_in_phase": dict(phases),
        "runs_left_started_before_the_last_run": len(left),
        "slots_held_by_killed_runs_before_the_last_run": len(slots_before),
        "killed_runs_marked_failed": len(killed_runs),
        "recovered_by_the_last_run": final_log.read_text().count(RECOVERED),
        "slots_freed": sum(
            int(m.group(1)) for line in recoveries if (m := SLOTS_FREED.search(line))
        ),
        "recovering_run_seconds": round(final, 1),
        "total_seconds": round(time.monotonic() - began, 1),
    }
    report = json.dumps(figures, indent=2)
    (tmp_path / "kill_figures.json").write_text(report)
    print(f"\nkilled runs on a persistent instance:\n{report}")
