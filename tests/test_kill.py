"""Killed runs: `early-warning run` SIGKILLed at random points never leaves a broken output,
and a re-run restores exactly the complete result. Then idempotence: a re-run with the same
inputs changes nothing but the run id, and `inputs_sha256` changes exactly when an input the
quarter can see changes.

The harness runs the real CLI (`python -m pipelines.cli run --from 2018Q4 --to 2019Q2`) in a
subprocess on a fictional estate in a temporary directory, with DAGSTER_HOME unset (an
ephemeral instance). After one complete run (T: how long it took to write its last output; the
interpreter's teardown after that writes nothing) it starts the same run again and again and
SIGKILLs it after a seeded random delay: KILLS delays, one drawn in each of KILLS equal slices
of [0, T], so kills land all along the run (imports, ingest, the watchlist's Parquet writes,
briefing packs, backtest). After every kill:

- every watchlist and flags partition is there, reads, has a complete run's row count and is
  that complete content (run_id aside; one run_id per file, never a mix);
- a temporary file may be left beside a partition (a kill between write and rename), but it is
  hidden and pandas, polars, DuckDB and pyarrow still read the datasets with complete counts;
- the DuckDB file opens, and in it the raw layer is exactly as after the complete run (no
  partial load) and every source's raw rows = validated + quarantined.

TARGETED more kills are aimed at the moment the first quarter's partitions are published, while
the next quarter's are being written. Finally a re-run succeeds and reproduces the complete
content. The figures are printed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from concurrent_runs import accounted_rows

from pipelines.catalogue import load_catalogue
from pipelines.definitions import ingest_assets, quarterly_assets
from pipelines.indicator_catalogue import CATALOGUE_PATH
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import make_estate, write_estate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SEED = 20_251_125
KILLS = int(os.environ.get("EARLY_WARNING_TEST_KILLS", "4"))
# Random kills rarely land in the few milliseconds between one quarter's Parquet files and the
# next; these kills are aimed there: as soon as the log says the first quarter is published.
TARGETED = 3
PUBLISHED = "published watchlist and flags for"
FIRST, LAST = "2018Q4", "2019Q2"
QUARTERS = ["2018Q4", "2019Q1", "2019Q2"]
DATASETS = {"watchlist": ["council_code"], "flags": ["council_code", "indicator_id"]}
RUN_TIMEOUT = 180
LAST_LINE = "Backtest report:"
# What the CLI prints (unbuffered) as it moves on, in order.
PHASES = [
    ("Ingesting and validating", "ingest"),
    ("Building watchlists", "quarters"),
    ("Backtesting", "backtest"),
    ("writing briefing packs", "briefing packs"),
    ("Warehouse (DuckDB)", "finished"),
]


def cli_environment(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DAGSTER_HOME" and not k.startswith("EARLY_WARNING_")
    }
    env["EARLY_WARNING_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_run(data_dir: Path, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "run", "--from", FIRST, "--to", LAST],
            cwd=REPO,
            env=cli_environment(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill reaches any child too
        )


def complete_run(data_dir: Path, log: Path) -> float:
    """Run to the end; returns how long the run took to write its last output (the CLI's
    last line, "Backtest report: ..."): the interpreter's teardown after it writes nothing."""
    started = time.monotonic()
    process = start_run(data_dir, log)
    written = None
    while process.poll() is None:
        if written is None and LAST_LINE in log.read_text(errors="replace"):
            written = time.monotonic() - started
        assert time.monotonic() - started < RUN_TIMEOUT, "the run did not finish"
        time.sleep(0.05)
    assert process.returncode == 0, log.read_text()[-3000:]
    return written if written is not None else time.monotonic() - started


def phase_of(log: Path) -> str:
    text = log.read_text(errors="replace")
    reached = "starting (imports)"
    for marker, phase in PHASES:
        if marker in text:
            reached = phase
    return reached


# --------------------------------------------------------------------------------------------
# What a complete run leaves, and checking that state
# --------------------------------------------------------------------------------------------


def partition(out: Path, dataset: str, quarter: str) -> Path:
    return out / dataset / f"quarter={quarter}" / "part-0.parquet"


def canonical(frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    return frame.drop("run_id").sort(DATASETS[dataset])


@dataclass
class Complete:
    content: dict[tuple[str, str], pl.DataFrame]
    run_ids: dict[tuple[str, str], str]
    raw_loads: list[tuple]
    raw_rows: dict[str, int]


def read_partitions(out: Path) -> tuple[dict, dict]:
    content, run_ids = {}, {}
    for dataset in DATASETS:
        for quarter in QUARTERS:
            frame = pl.from_arrow(pq.read_table(partition(out, dataset, quarter)))
            assert isinstance(frame, pl.DataFrame)
            ids = frame.get_column("run_id").unique().to_list()
            assert len(ids) == 1, f"{dataset} {quarter} mixes runs: {ids}"
            content[(dataset, quarter)] = canonical(frame, dataset)
            run_ids[(dataset, quarter)] = ids[0]
    return content, run_ids


def warehouse_state(database: Path) -> tuple[list[tuple], dict[str, int]]:
    """The raw layer (loads and row counts), checking every source's count invariant."""
    with duckdb.connect(str(database), read_only=True) as connection:
        loads = connection.execute(
            "SELECT load_id, source_id, source_path, file_sha256, row_count FROM raw.loads "
            "ORDER BY load_id"
        ).fetchall()
        raw_rows = {}
        for source_id in load_catalogue():
            raw, valid, quarantined = accounted_rows(connection, source_id)
            assert raw == valid + quarantined, (source_id, raw, valid, quarantined)
            raw_rows[source_id] = raw
        # The published quarters are in the warehouse too, whole.
        counts = dict(
            connection.execute(
                "SELECT quarter, count(*) FROM watchlist.watchlist "
                "WHERE quarter IN (SELECT unnest(?)) GROUP BY quarter",
                [QUARTERS],
            ).fetchall()
        )
    return loads, raw_rows | {f"watchlist {q}": counts.get(q, 0) for q in QUARTERS}


def readers_count(out: Path, dataset: str) -> dict[str, int]:
    """Rows of a dataset as each downstream reader sees it (README's ways of reading it)."""
    folder = out / dataset
    with duckdb.connect() as connection:
        duck = connection.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
            [str(folder / "*" / "*.parquet")],
        ).fetchone()[0]
    return {
        "pandas": len(pd.read_parquet(folder)),
        "polars": pl.scan_parquet(str(folder / "**" / "*.parquet"), hive_partitioning=True)
        .select(pl.len())
        .collect()
        .item(),
        "duckdb": duck,
        "pyarrow": ds.dataset(folder, format="parquet", partitioning="hive").count_rows(),
    }


def leftovers(out: Path) -> list[Path]:
    return sorted(
        p
        for d in DATASETS
        for p in (out / d).rglob("*")
        if p.is_file() and not p.name.startswith("part-")
    )


def check_state(out: Path, database: Path, complete: Complete) -> dict[tuple[str, str], str]:
    content, run_ids = read_partitions(out)
    for key, frame in content.items():
        assert frame.height == complete.content[key].height, key
        assert frame.equals(complete.content[key]), f"{key} differs from the complete content"
    for path in leftovers(out):
        # A kill between writing and renaming leaves `.part-0.<random>.tmp`: hidden, so the
        # dataset readers skip it.
        assert path.name.startswith(".") and path.suffix == ".tmp", path
    for dataset in DATASETS:
        expected = sum(complete.content[(dataset, q)].height for q in QUARTERS)
        assert readers_count(out, dataset) == dict.fromkeys(
            ("pandas", "polars", "duckdb", "pyarrow"), expected
        )
    loads, raw_rows = warehouse_state(database)
    assert loads == complete.raw_loads, "the raw layer changed"
    assert raw_rows == complete.raw_rows
    return run_ids


@dataclass
class Figures:
    period: float = 0.0
    delays: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    phases: Counter = field(default_factory=Counter)
    replaced: int = 0  # Parquet partitions replaced by killed runs
    mixed: int = 0  # kills after which the partitions came from two runs (each complete)
    leftover_tmp_files: int = 0
    duckdb_opened: int = 0

    def after_kill(self, now: dict, before: dict, out: Path) -> dict:
        """Count what one kill left (check_state has passed): partitions replaced, mixed."""
        self.duckdb_opened += 1
        self.replaced += sum(now[k] != before[k] for k in now)
        self.mixed += len(set(now.values())) > 1
        self.leftover_tmp_files = len(leftovers(out))
        return now

    def report(self, total: float, final: float) -> str:
        d = sorted(self.delays)
        return json.dumps(
            {
                "random_kills_attempted": len(d),
                "outcomes": dict(self.outcomes),
                "killed_in_phase": dict(self.phases),
                "complete_run_seconds_to_last_output": round(self.period, 1),
                "kill_delay_seconds": {
                    "min": round(d[0], 2),
                    "median": round(statistics.median(d), 2),
                    "max": round(d[-1], 2),
                    "per_fifth_of_the_run": [
                        sum(1 for x in d if k * self.period / 5 <= x < (k + 1) * self.period / 5)
                        for k in range(5)
                    ],
                },
                "parquet_partitions_replaced_by_killed_runs": self.replaced,
                "kills_leaving_partitions_of_two_runs_each_complete": self.mixed,
                "parquet_files_incomplete_or_mixed": 0,
                "hidden_tmp_files_left_beside_partitions": self.leftover_tmp_files,
                "duckdb_opened_after_kill": self.duckdb_opened,
                "raw_rows_lost_or_added": 0,
                "final_rerun_seconds": round(final, 1),
                "total_seconds": round(total, 1),
            },
            indent=2,
        )


def test_killed_runs_never_leave_a_broken_output(tmp_path: Path) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    write_estate(data_dir, make_estate(scale=0.1, seed=SEED % 1000), seed=SEED % 1000)
    out, database = data_dir / "output", data_dir / "warehouse" / "early_warning.duckdb"
    logs = tmp_path / "logs"
    logs.mkdir()

    figures = Figures(period=complete_run(data_dir, logs / "complete.log"))
    content, run_ids = read_partitions(out)
    loads, raw_rows = warehouse_state(database)
    complete = Complete(content, dict(run_ids), loads, raw_rows)
    assert all(frame.height for frame in content.values())

    rng = random.Random(SEED)
    delays = [figures.period * (k + rng.random()) / KILLS for k in range(KILLS)]
    rng.shuffle(delays)
    for attempt, delay in enumerate(delays):
        log = logs / f"kill-{attempt:02d}.log"
        process = start_run(data_dir, log)
        try:
            code = process.wait(timeout=delay)
            figures.outcomes[f"finished before the kill (exit {code})"] += 1
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            figures.outcomes["killed"] += 1
            figures.phases[phase_of(log)] += 1
        figures.delays.append(delay)
        run_ids = figures.after_kill(check_state(out, database, complete), run_ids, out)

    for attempt in range(TARGETED):
        log = logs / f"targeted-{attempt}.log"
        process = start_run(data_dir, log)
        while process.poll() is None and PUBLISHED not in log.read_text(errors="replace"):
            time.sleep(0.002)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            figures.outcomes["killed as the first quarter was published"] += 1
        process.wait(timeout=30)
        run_ids = figures.after_kill(check_state(out, database, complete), run_ids, out)

    final = complete_run(data_dir, logs / "final.log")
    final_ids = check_state(out, database, complete)
    assert all(final_ids[k] != complete.run_ids[k] for k in final_ids)
    assert (out / "backtest" / "backtest.md").is_file()
    assert all((out / "briefings" / f"quarter={q}" / "index.html").is_file() for q in QUARTERS)
    report = figures.report(time.monotonic() - started, final)
    (tmp_path / "kill_figures.json").write_text(report)
    print(f"\nkilled runs:\n{report}")
    # The delays are drawn over the first, complete run; a re-run skips the raw loads it already
    # holds, so the last slices can finish before their kill. Most must still land in a run.
    assert figures.outcomes["killed"] >= KILLS // 2, figures.outcomes


# --------------------------------------------------------------------------------------------
# Idempotence: what tests/test_watchlist.py does not already show
# --------------------------------------------------------------------------------------------

RANGE = {
    "dagster/asset_partition_range_start": "2018-10-01",
    "dagster/asset_partition_range_end": "2019-04-01",
}


def _watchlists(out: Path) -> dict[str, pl.DataFrame]:
    return {
        q: pl.read_parquet(partition(out, "watchlist", q)).sort("council_code") for q in QUARTERS
    }


def _hashes(watchlists: dict[str, pl.DataFrame]) -> dict[str, set[str]]:
    return {q: set(w.get_column("inputs_sha256")) for q, w in watchlists.items()}


def test_rebuilds_are_identical_and_inputs_sha256_follows_what_each_quarter_can_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = make_estate(scale=0.1, seed=5)
    data_dir = tmp_path / "data"
    write_estate(data_dir, estate, seed=5)
    out = tmp_path / "output"
    resources = {
        "warehouse": Warehouse(database=str(tmp_path / "w.duckdb")),
        "source_files": SourceFiles(data_dir=str(data_dir)),
        "parquet_outputs": ParquetOutputs(output_dir=str(out)),
    }

    def build() -> dict[str, pl.DataFrame]:
        assert dg.materialize(quarterly_assets, resources=resources, tags=RANGE).success
        return _watchlists(out)

    assert dg.materialize(ingest_assets, resources=resources).success
    first = build()
    assert all(len(h) == 1 for h in _hashes(first).values())  # one fingerprint per quarter

    # The same inputs: identical, inputs_sha256 included, except the run id.
    again = build()
    for q in QUARTERS:
        assert again[q].drop("run_id").equals(first[q].drop("run_id")), q
        assert set(again[q]["run_id"]).isdisjoint(first[q]["run_id"])

    # A section 114 notice dated 15 February 2019: 2019Q1 and 2019Q2 can see it, 2018Q4 not.
    council = next(c for c in estate.councils if c.gss_code not in estate.section114)
    notices = data_dir / "sources" / "registers" / "section114_notices.csv"
    with notices.open("a", encoding="utf-8") as handle:
        handle.write(
            f"{council.gss_code},{council.name},2019-02-15,day,1,,https://example.org/s,q\n"
        )
    selection = ["raw/section114_notices", "validated/section114_notices"]
    assert dg.materialize(ingest_assets, selection=selection, resources=resources).success
    noticed = build()
    assert noticed["2018Q4"].drop("run_id").equals(first["2018Q4"].drop("run_id"))
    for q in ("2019Q1", "2019Q2"):
        assert _hashes(noticed)[q].isdisjoint(_hashes(first)[q]), q
        row = noticed[q].filter(pl.col("council_code") == council.gss_code).row(0, named=True)
        assert row["known_case"] and row["rank"] is None

    # A what-if catalogue (one weight changed) is an input of every quarter.
    what_if = tmp_path / "what_if.yaml"
    text = CATALOGUE_PATH.read_text(encoding="utf-8")
    assert "weight: 3.0" in text
    what_if.write_text(text.replace("weight: 3.0", "weight: 3.5", 1), encoding="utf-8")
    monkeypatch.setenv("EARLY_WARNING_INDICATOR_CATALOGUE", str(what_if))
    weighted = build()
    for q in QUARTERS:
        assert _hashes(weighted)[q].isdisjoint(_hashes(noticed)[q]), q
    shutil.rmtree(out)  # nothing else to keep
