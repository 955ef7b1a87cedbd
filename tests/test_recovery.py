"""Stale runs and pool slots on a persistent instance (pipelines/recovery.py), on their own.

- A run left STARTED by a dead process (its pid gone, or reused by another program) is marked
  failed with the reason and its `warehouse` slot freed; a live process's run is left alone.
- A slot held by a live run: the CLI says which run holds it and gives up after
  EARLY_WARNING_SLOT_WAIT_SECONDS; a run already executing gives up the same way.
- A holder killed while another run waits for its slot is recovered, and the waiting run goes on.
- The run monitoring settings of both dagster.yaml files are accepted by the instance.

The instance is built from the repository's `dagster.yaml` in a temporary DAGSTER_HOME, as
`make run` builds it. The live holder is a child process that materialises one pool asset that
sleeps, tagged the way `early-warning` tags its runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration

from pipelines.profiles import Settings
from pipelines.recovery import (
    BOOT_TAG,
    HOST_TAG,
    PID_TAG,
    POOL,
    START_TAG,
    SlotWatch,
    process_start_ticks,
    process_tags,
    recover_stale_runs,
)

REPO = Path(__file__).resolve().parents[1]
WAITING_RUN = "00000000-0000-4000-8000-000000000001"

HOLDER = """
import json, sys, time
import dagster as dg
from pipelines.recovery import process_tags

@dg.asset(pool="warehouse")
def holds_the_warehouse_slot() -> None:
    print("holding", flush=True)
    time.sleep(600)

# Tagged as `early-warning` tags its runs, or (given tags) as the daemon's runs are.
tags = json.loads(sys.argv[1]) if len(sys.argv) > 1 else process_tags()
dg.materialize([holds_the_warehouse_slot], instance=dg.DagsterInstance.get(), tags=tags)
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def holder_process(home: Path, tags: dict[str, str] | None = None) -> subprocess.Popen:
    """A live run holding the warehouse slot (its step sleeps), once it says so."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *([json.dumps(tags)] if tags is not None else [])],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "holding"
    return process


@pytest.fixture
def holder(home: Path) -> Iterator[subprocess.Popen]:
    process = holder_process(home)
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def holding_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    (slot,) = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    run = instance.get_run_by_id(slot.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    return run


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def fake_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    """A run left STARTED, holding the warehouse slot for its step."""
    run = create_run_for_test(
        instance, job_name="ingest_and_validate", status=dg.DagsterRunStatus.STARTED, tags=tags
    )
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    assert storage.claim_concurrency_slot(POOL, run.run_id, "raw__councils").is_claimed
    return run


def status(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRunStatus:
    found = instance.get_run_by_id(run.run_id)
    assert found is not None
    return found.status


def test_a_run_whose_process_is_gone_is_failed_and_its_slot_freed(
    instance: dg.DagsterInstance,
) -> None:
    own = process_tags()
    assert own[PID_TAG] == str(os.getpid()) and own[HOST_TAG] == socket.gethostname()
    assert own[START_TAG] == process_start_ticks(os.getpid())
    gone = fake_run(instance, {**own, PID_TAG: str(dead_pid())})
    messages: list[str] = []

    recovery = recover_stale_runs(instance, messages.append)

    assert recovery.failed_runs == [gone.run_id]
    assert status(instance, gone) == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(gone.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "no longer exists" in failure[-1].message and "was killed" in failure[-1].message
    assert messages == [
        f"Recovered after a crash: run {gone.run_id} (ingest_and_validate) was left STARTED but "
        f"process {gone.tags[PID_TAG]} no longer exists: marked failed, 1 pool slot(s) freed."
    ]
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert info.claimed_slots == [] and info.pending_steps == []

    # The pid now belongs to another program (this test process, started at another time).
    reused = fake_run(instance, {**own, START_TAG: str(int(own[START_TAG]) - 1)})
    assert recover_stale_runs(instance, messages.append).failed_runs == [reused.run_id]
    assert "pid reused" in messages[-1]
    # The machine restarted since (another boot id).
    rebooted = fake_run(instance, {**own, BOOT_TAG: "another-boot"})
    assert recover_stale_runs(instance, messages.append).failed_runs == [rebooted.run_id]
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


def test_runs_that_may_be_alive_are_left_alone(instance: dg.DagsterInstance) -> None:
    alive = fake_run(instance, process_tags())  # this very process
    elsewhere = create_run_for_test(
        instance,
        status=dg.DagsterRunStatus.STARTED,
        tags={**process_tags(), PID_TAG: str(dead_pid()), HOST_TAG: "another-host"},
    )
    untagged = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)  # a daemon's

    assert recover_stale_runs(instance, lambda _: None).failed_runs == []
    for run in (alive, elsewhere, untagged):
        assert status(instance, run) == dg.DagsterRunStatus.STARTED
    (slot,) = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    assert slot.run_id == alive.run_id


def test_a_slot_left_by_a_finished_run_is_freed(instance: dg.DagsterInstance) -> None:
    run = fake_run(instance, {})
    instance.report_run_failed(run, "ended without freeing its slot")

    assert recover_stale_runs(instance, lambda _: None).freed_runs == [run.run_id]
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


@pytest.mark.slow  # starts a holder process (about 10 s of imports)
def test_the_cli_names_the_live_holder_and_gives_up_after_the_configured_wait(
    home: Path, instance: dg.DagsterInstance, holder: subprocess.Popen, tmp_path: Path
) -> None:
    held_by = holding_run(instance)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING_")},
        "DAGSTER_HOME": str(home),
        "EARLY_WARNING_DATA_DIR": str(tmp_path / "data"),
        "EARLY_WARNING_SLOT_WAIT_SECONDS": "2",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "backtest"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    waited = time.monotonic() - started

    assert result.returncode == 1, result.stderr[-2000:]
    holder_text = (
        f"held by run {held_by.run_id} (__ephemeral_asset_job__, STARTED, "
        f"step holds_the_warehouse_slot, pid {holder.pid})"
    )
    assert f"Waiting for the warehouse pool slot (0 s of at most 2 s), {holder_text}" in (
        result.stderr
    )
    assert (
        "FAILED backtest: gave up after waiting 2 s for the warehouse pool slot, " + holder_text
    ) in result.stderr
    assert waited < 60
    # It gave up before starting a run, and left the holder alone.
    assert [r.job_name for r in instance.get_runs()] == ["__ephemeral_asset_job__"]
    assert holding_run(instance).run_id == held_by.run_id and holder.poll() is None


def _one_step_job() -> dg.JobDefinition:
    @dg.asset(pool=POOL)
    def needs_the_warehouse_slot() -> int:
        return 1

    return dg.Definitions(
        assets=[needs_the_warehouse_slot], jobs=[dg.define_asset_job("one_step")]
    ).resolve_job_def("one_step")


@pytest.mark.slow  # starts a holder process (about 10 s of imports)
def test_a_run_waiting_for_a_live_holder_gives_up_after_the_configured_wait(
    instance: dg.DagsterInstance, holder: subprocess.Popen
) -> None:
    held_by = holding_run(instance)
    messages: list[str] = []
    started = time.monotonic()
    with SlotWatch(instance, WAITING_RUN, 2, messages.append) as watch:
        result = _one_step_job().execute_in_process(
            instance=instance, run_id=WAITING_RUN, raise_on_error=False
        )
    assert not result.success
    assert time.monotonic() - started < 60
    assert watch.timed_out and held_by.run_id in watch.timed_out
    assert any(held_by.run_id in m and m.startswith("Waiting for") for m in messages)
    run = instance.get_run_by_id(WAITING_RUN)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    # The run's own event log (what the UI shows) names the holder, waiting and giving up.
    logged = [
        e.message for e in instance.all_logs(WAITING_RUN, of_type=dg.DagsterEventType.ENGINE_EVENT)
    ]
    assert any(m.startswith("Waiting for") and held_by.run_id in m for m in logged)
    assert any("gave up after waiting" in m and held_by.run_id in m for m in logged)
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert [s.run_id for s in info.claimed_slots] == [held_by.run_id]
    assert {s.run_id for s in info.pending_steps} == {held_by.run_id}


@pytest.mark.slow  # starts a holder process (about 10 s of imports)
def test_a_holder_killed_while_a_run_waits_is_recovered_and_the_run_goes_on(
    instance: dg.DagsterInstance, holder: subprocess.Popen
) -> None:
    held_by = holding_run(instance)
    messages: list[str] = []

    def kill_when_waiting(message: str) -> None:
        messages.append(message)
        if message.startswith("Waiting for") and holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()

    with SlotWatch(instance, WAITING_RUN, 120, kill_when_waiting) as watch:
        result = _one_step_job().execute_in_process(
            instance=instance, run_id=WAITING_RUN, raise_on_error=False
        )
    assert result.success and watch.timed_out is None
    assert status(instance, held_by) == dg.DagsterRunStatus.FAILURE
    assert any(m.startswith("Recovered after a crash") and held_by.run_id in m for m in messages)
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert info.claimed_slots == [] and info.pending_steps == []


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/production/dagster.yaml"])
def test_run_monitoring_is_on_in_both_instance_files(path: str, home: Path) -> None:
    settings = yaml.safe_load((REPO / path).read_text())["run_monitoring"]
    assert settings["enabled"] is True
    assert 0 < settings["free_slots_after_run_end_seconds"] <= 300
    assert 0 < settings["max_runtime_seconds"] <= 24 * 3600
    # The instance accepts the section: the local file as is, the production one's section in
    # the local file (building the production instance needs PostgreSQL).
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    (home / "dagster.yaml").write_text(yaml.safe_dump(local | {"run_monitoring": settings}))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings == settings
        assert "MONITORING" in instance.get_required_daemon_types()


@pytest.mark.slow  # starts a holder process (about 10 s of imports)
def test_the_daemon_fails_a_run_of_its_own_whose_worker_died_and_frees_its_slot(
    home: Path,
) -> None:
    """A run without process tags (as the daemon launches them) is left to run monitoring: with
    the repository's settings, bar two timeouts shortened so the test need not wait for them
    (the run's own `dagster/max_runtime` tag, and free_slots_after_run_end_seconds), one pass of
    the monitoring daemon's checks fails the run and frees its slot."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["run_monitoring"]["free_slots_after_run_end_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    holder = holder_process(home, {"dagster/max_runtime": "1"})
    with dg.DagsterInstance.from_config(str(home)) as instance:
        held_by = holding_run(instance)
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        assert recover_stale_runs(instance, lambda _: None).failed_runs == []  # not ours
        time.sleep(1.5)  # past its max runtime

        class Daemon:  # what the monitoring iterations use of the daemon's workspace context
            def __init__(self) -> None:
                self.instance = instance

            def create_request_context(self) -> None:
                return None

        logger = logging.getLogger("run_monitoring_test")
        list(execute_run_monitoring_iteration(Daemon(), logger))  # type: ignore[arg-type]
        assert status(instance, held_by) == dg.DagsterRunStatus.FAILURE
        time.sleep(1.5)  # past free_slots_after_run_end_seconds
        list(execute_concurrency_slots_iteration(Daemon(), logger))  # type: ignore[arg-type]
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


def test_the_slot_wait_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EARLY_WARNING_SLOT_WAIT_SECONDS", raising=False)
    assert Settings.from_environment().slot_wait_seconds == 600
    monkeypatch.setenv("EARLY_WARNING_SLOT_WAIT_SECONDS", "2.5")
    assert Settings.from_environment().slot_wait_seconds == 2.5
    for wrong in ("ten minutes", "-1", "nan"):
        monkeypatch.setenv("EARLY_WARNING_SLOT_WAIT_SECONDS", wrong)
        with pytest.raises(ValueError, match="EARLY_WARNING_SLOT_WAIT_SECONDS"):
            Settings.from_environment()
