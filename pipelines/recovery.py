"""After a crash: runs whose process is gone, and the pool slots they still hold.

A run executed in process (`early-warning run`, `early-warning backtest`) that is SIGKILLed (an
OOM kill, a power cut) never reports its end. Dagster keeps it `STARTED`, and the `warehouse`
pool slot its step had claimed stays claimed; every later run waits for that slot for ever (and
Dagster's in-process executor spins at 100% CPU while it waits). So before each run the CLI:

1. finds this instance's unfinished runs that carry the process tags below and whose process
   is gone (`os.kill(pid, 0)`, then the process start time in /proc, which defeats pid reuse),
   marks them failed with the reason, and frees their slots;
2. frees slots still held by runs that have finished (or no longer exist);
3. waits for a pool slot held by a live run, saying which run holds it, and gives up after
   `EARLY_WARNING_SLOT_WAIT_SECONDS` with an error naming the holder.

Runs without the tags (launched by the daemon from the UI, a schedule or a backfill) are left to
Dagster's run monitoring (`run_monitoring` in dagster.yaml): their process is not ours to judge.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

POOL = "warehouse"
PID_TAG = "early_warning/pid"
HOST_TAG = "early_warning/host"
BOOT_TAG = "early_warning/boot_id"
START_TAG = "early_warning/process_start"  # clock ticks after boot, /proc/<pid>/stat field 22
DEFAULT_SLOT_WAIT_SECONDS = 600.0
# How often a waiting run looks at the pool again, and how often it says it is still waiting.
POLL_SECONDS = 1.0
REPORT_EVERY_SECONDS = 30.0

UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

Say = Callable[[str], None]


class SlotWaitTimeout(RuntimeError):
    """A pool slot stayed held by another live run for longer than the configured wait."""


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start_ticks(pid: int) -> str | None:
    """When process `pid` started, in clock ticks after boot (None without /proc or process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_tags() -> dict[str, str]:
    """Run tags that identify this process, so a later run can tell whether it is still alive."""
    pid = os.getpid()
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname()}
    boot, start = _boot_id(), process_start_ticks(pid)
    if boot:
        tags[BOOT_TAG] = boot
    if start:
        tags[START_TAG] = start
    return tags


def process_is_gone(tags: Mapping[str, str]) -> str | None:
    """Why the process that ran a run with these tags is certainly gone, or None if it may still
    be running (or it ran on another host, or the run has no process tags)."""
    if not tags.get(PID_TAG, "").isdigit() or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags[PID_TAG])
    if BOOT_TAG in tags and (boot := _boot_id()) and tags[BOOT_TAG] != boot:
        return f"the machine has restarted since process {pid} ran it"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} no longer exists"
    except PermissionError:
        pass  # a process of another user has that pid: compare start times
    if START_TAG in tags:
        start = process_start_ticks(pid)
        if start is not None and start != tags[START_TAG]:
            return f"process {pid} is now another program (pid reused)"
    return None


@dataclass(frozen=True)
class Recovery:
    """What one clean-up did."""

    failed_runs: list[str]
    freed_runs: list[str]  # runs whose pool slots (claimed or pending) were freed


def _free(instance: dg.DagsterInstance, run_id: str) -> int:
    """Free a run's claimed pool slots and pending claims; how many slots it held."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0
    infos = storage.get_concurrency_infos(list(storage.get_concurrency_keys())).values()
    held = sum(slot.run_id == run_id for info in infos for slot in info.claimed_slots)
    storage.free_concurrency_slots_for_run(run_id)
    return held


def recover_stale_runs(instance: dg.DagsterInstance, say: Say = print) -> Recovery:
    """Mark failed this instance's unfinished runs whose (tagged) process is gone and free their
    pool slots; free slots still held by runs that have finished or no longer exist."""
    failed: list[str] = []
    freed: list[str] = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        reason = process_is_gone(run.tags)
        if reason is None:
            continue
        instance.report_run_failed(
            run,
            f"Run {run.run_id} ({run.job_name}) was left "
            f"{run.status.value} but {reason}: it was killed (SIGKILL, out of memory or power "
            "cut). Marked failed, and its pool slots freed, by the next early-warning run.",
        )
        held = _free(instance, run.run_id)
        say(
            f"Recovered after a crash: run {run.run_id} ({run.job_name}) was left "
            f"{run.status.value} but {reason}: marked failed, {held} pool slot(s) freed."
        )
        failed.append(run.run_id)
        freed.append(run.run_id)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return Recovery(failed, freed)
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        holders = {slot.run_id for slot in info.claimed_slots}
        holders |= {step.run_id for step in info.pending_steps}
        for run_id in sorted(holders - set(freed)):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                state = "no longer exists" if run is None else f"ended {run.status.value}"
                _free(instance, run_id)
                say(f"Freed the {key} pool slot of run {run_id}, which {state}.")
                freed.append(run_id)
    return Recovery(failed, freed)


@dataclass(frozen=True)
class Holder:
    run_id: str
    step_key: str
    job_name: str
    status: str
    pid: str


def pool_holders(instance: dg.DagsterInstance, pool: str, own_run_id: str | None) -> list[Holder]:
    """Other runs' claimed slots in `pool` while the pool is full (empty when a slot is free)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = storage.get_concurrency_info(pool)
    claimed = [slot for slot in info.claimed_slots if slot.run_id != own_run_id]
    limit = info.limit if info.limit is not None else info.slot_count
    if not claimed or (limit and len(info.claimed_slots) < limit):
        return []
    holders = []
    for slot in claimed:
        run = instance.get_run_by_id(slot.run_id)
        holders.append(
            Holder(
                run_id=slot.run_id,
                step_key=slot.step_key or "",
                job_name=run.job_name if run else "?",
                status=run.status.value if run else "no such run",
                pid=run.tags.get(PID_TAG, "not recorded") if run else "",
            )
        )
    return holders


def describe(holders: list[Holder]) -> str:
    return "; ".join(
        f"run {h.run_id} ({h.job_name}, {h.status}, step {h.step_key}, pid {h.pid})"
        for h in holders
    )


def wait_for_pool(
    instance: dg.DagsterInstance,
    timeout_seconds: float,
    say: Say = print,
    pool: str = POOL,
    own_run_id: str | None = None,
    started: float | None = None,
) -> None:
    """Return once `pool` has a free slot (or only this run holds it); recover runs that die
    meanwhile; raise SlotWaitTimeout naming the holders after `timeout_seconds` of waiting."""
    started = time.monotonic() if started is None else started
    reported = -REPORT_EVERY_SECONDS
    while holders := pool_holders(instance, pool, own_run_id):
        waited = time.monotonic() - started
        if waited >= timeout_seconds:
            raise SlotWaitTimeout(
                f"gave up after waiting {waited:.0f} s for the {pool} pool slot, held by "
                f"{describe(holders)}. If that run is stuck, terminate it (the UI's Runs page) "
                "or free its slot (Deployment, Concurrency); EARLY_WARNING_SLOT_WAIT_SECONDS "
                "sets how long to wait."
            )
        if waited - reported >= REPORT_EVERY_SECONDS:
            say(
                f"Waiting for the {pool} pool slot ({waited:.0f} s of at most "
                f"{timeout_seconds:.0f} s), held by {describe(holders)}"
            )
            reported = waited
        time.sleep(POLL_SECONDS)
        recover_stale_runs(instance, say)


class SlotWatch:
    """While a run executes in this process: if it waits for a pool slot that another run holds,
    say which run, recover that run if its process dies, and after `timeout_seconds` of waiting
    end the run with SlotWaitTimeout. Dagster's in-process executor ignores SIGINT while a step
    waits for a slot (and spins meanwhile), so the timeout is raised in the main thread, which
    Dagster then records as the run's failure; it is raised only while no step of the run holds
    a slot, i.e. while none is executing."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        timeout_seconds: float,
        say: Say = print,
        pool: str = POOL,
    ) -> None:
        self.instance, self.run_id, self.pool = instance, run_id, pool
        self.timeout_seconds, self.say = timeout_seconds, say
        self.timed_out: str | None = None
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._watch, name="slot-watch", daemon=True)

    def __enter__(self) -> SlotWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _waiting_for(self) -> list[Holder]:
        info = self.instance.event_log_storage.get_concurrency_info(self.pool)
        waiting = any(step.run_id == self.run_id for step in info.pending_steps)
        holding = any(slot.run_id == self.run_id for slot in info.claimed_slots)
        if not waiting or holding:
            return []
        return pool_holders(self.instance, self.pool, self.run_id)

    def _watch(self) -> None:
        # Its own instance: storage connections are not shared across threads.
        with dg.DagsterInstance.from_ref(self.instance.get_ref()) as instance:
            self.instance = instance
            self._poll()

    def _report(self, message: str) -> None:
        """Say it, and put it in the run's own event log, where the UI shows it."""
        self.say(message)
        run = self.instance.get_run_by_id(self.run_id)
        if run is not None:
            self.instance.report_engine_event(message, run)

    def _poll(self) -> None:
        since: float | None = None
        reported = 0.0
        while not self._stop.wait(POLL_SECONDS):
            holders = self._waiting_for()
            if not holders:
                since = None
                continue
            now = time.monotonic()
            if since is None:
                since, reported = now, now - REPORT_EVERY_SECONDS
            if now - reported >= REPORT_EVERY_SECONDS:
                self._report(
                    f"Waiting for the {self.pool} pool slot ({now - since:.0f} s of at most "
                    f"{self.timeout_seconds:.0f} s), held by {describe(holders)}"
                )
                reported = now
            recover_stale_runs(self.instance, self.say)
            if now - since >= self.timeout_seconds and self._waiting_for():
                self.timed_out = (
                    f"gave up after waiting {now - since:.0f} s for the {self.pool} pool slot, "
                    f"held by {describe(holders)}"
                )
                self._report(f"Run {self.run_id} {self.timed_out}")
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._main), ctypes.py_object(SlotWaitTimeout)
                )
                return
