"""Two materialisations started at the same instant, for the concurrency tests
(tests/test_concurrency.py on SQLite, tests/test_instance_postgres.py on PostgreSQL), and the
row accounting that every concurrent or killed run must leave intact (tests/test_kill.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest

from checks.validation import KEY_COLUMNS

REPO = Path(__file__).resolve().parents[1]

# A child process: waits at the barrier until both are ready, then materialises the given assets
# on the instance of its DAGSTER_HOME and prints the run id.
RUNNER = """
import json, sys, time
from pathlib import Path
import dagster as dg
from pipelines.definitions import defs
from pipelines.profiles import Settings, resources_for

barrier, name, keys = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
keys = [dg.AssetKey(k) for k in keys]
assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.keys & set(keys)]
instance = dg.DagsterInstance.get()
(barrier / name).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2:
    if time.monotonic() > deadline:
        sys.exit("the other run never became ready")
    time.sleep(0.01)
result = dg.materialize(
    assets, selection=keys, instance=instance, tags={"launched_by": name},
    resources=resources_for(Settings.from_environment()), raise_on_error=False,
)
print(result.run_id)
sys.exit(0 if result.success else 1)
"""


def materialise_twice_at_once(
    barrier: Path, keys: Sequence[Sequence[str]], env: Mapping[str, str], timeout: float
) -> tuple[list[str], list[str]]:
    """Start two RUNNER processes on the same asset keys; the run ids and their outputs."""
    barrier.mkdir(exist_ok=True)
    runners = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(barrier), name, json.dumps(list(keys))],
            cwd=REPO,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = wait_for(runners, "the concurrent materialisations", timeout)
    return [out.strip().splitlines()[-1] for out in outputs], outputs


def wait_for(processes: list[subprocess.Popen], what: str, timeout: float) -> list[str]:
    """Each process's output once all have exited 0; all are killed if one overruns."""
    outputs = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            pytest.fail(f"{what} did not finish within {timeout} s")
        assert process.returncode == 0, out[-3000:]
        outputs.append(out)
    return outputs


T = TypeVar("T")


def overlapping(
    first: Mapping[str | None, tuple[T, T]], second: Mapping[str | None, tuple[T, T]]
) -> list[str]:
    """Pairs of steps, one from each run, whose (start, end) spans intersect."""
    return [
        f"{key_a} [{start_a}, {end_a}] / {key_b} [{start_b}, {end_b}]"
        for key_a, (start_a, end_a) in first.items()
        for key_b, (start_b, end_b) in second.items()
        if not (end_a <= start_b or end_b <= start_a)  # type: ignore[operator]
    ]


def accounted_rows(connection: duckdb.DuckDBPyConnection, source_id: str) -> tuple[int, int, int]:
    """A source's current raw rows, validated rows and distinct quarantined rows, which must add
    up (raw = validated + quarantined) after any run, killed or concurrent."""

    def count(statement: str, *params: str) -> int:
        row = connection.execute(statement, list(params)).fetchone()
        assert row is not None
        return int(row[0])

    raw = count(
        f"SELECT count(*) FROM raw.{source_id} r JOIN raw.current_loads c "
        "ON c.load_id = r.load_id AND c.source_id = ?",
        source_id,
    )
    valid = count(f"SELECT count(*) FROM validated.{source_id}")
    quarantined = count(
        f"SELECT count(DISTINCT ({', '.join(KEY_COLUMNS)})) FROM validated.quarantine "
        "WHERE source_id = ?",
        source_id,
    )
    return raw, valid, quarantined
