"""The backtest's figures on fixtures whose answer is known by construction, and the guarantee
that failure labels never feed a score."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from assets.backtest import evaluate, label, read_events, roc_auc
from pipelines.synthetic import make_estate, write_estate

AS_OF = date(2019, 3, 31)


def _watchlist(quarter: str, as_of: date, n: int = 40) -> pl.DataFrame:
    """Councils c00..c{n-1}: c00 has the highest main score; the baseline ranks them the other
    way round; the last council is a known case."""
    codes = [f"c{i:02d}" for i in range(n)]
    return pl.DataFrame(
        {
            "quarter": [quarter] * n,
            "as_of_date": [as_of] * n,
            "council_code": codes,
            "council_name": [f"Testshire {i}" for i in range(n)],
            "known_case": [i == n - 1 for i in range(n)],
            "risk_score": [float(n - i) for i in range(n)],
            "baseline_score": [float(i) for i in range(n)],
            "risk_band": ["elevated" if i < 3 else "watch" for i in range(n)],
            "rank": list(range(1, n + 1)),
        }
    )


def _events(*rows: tuple[str, date]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "council_code": [r[0] for r in rows],
            "event_date": [r[1] for r in rows],
            "event_type": ["section 114 notice"] * len(rows),
        }
    )


def test_precision_recall_lift_and_auc_by_construction() -> None:
    watchlist = _watchlist("2019Q1", AS_OF)
    events = _events(
        ("c00", AS_OF + timedelta(days=200)),  # rank 1, fails within the horizon
        ("c15", AS_OF + timedelta(days=700)),  # rank 16, fails within the horizon
        ("c05", AS_OF + timedelta(days=2000)),  # fails after the horizon: not a positive
        ("c07", AS_OF - timedelta(days=30)),  # before the as-of date: not a positive
        ("c39", AS_OF + timedelta(days=100)),  # already a known case: excluded
    )
    result = evaluate(watchlist, events, horizon_days=1096, complete_until=date(2030, 1, 1))
    main = result.per_quarter.filter(pl.col("ranking") == "main score").row(0, named=True)
    eligible, failures = 39, 2
    assert main["councils"] == eligible
    assert main["failures"] == failures
    assert main["precision_at_10"] == pytest.approx(1 / 10)
    assert main["recall_at_10"] == pytest.approx(1 / 2)
    assert main["precision_at_20"] == pytest.approx(2 / 20)
    assert main["recall_at_20"] == pytest.approx(1.0)
    assert main["lift_at_10"] == pytest.approx((1 / 10) / (failures / eligible))
    # c00 outscores all 37 negatives; c15 (score 25) outscores c16..c38, 23 of them.
    assert main["roc_auc"] == pytest.approx((37 + 23) / (2 * 37))

    baseline = result.per_quarter.filter(pl.col("ranking") == "reserves-only baseline")
    # The baseline ranks c38 first and c00 last: c15 is 24th, c00 39th.
    assert baseline.get_column("precision_at_30").item() == pytest.approx(1 / 30)
    assert baseline.get_column("recall_at_10").item() == pytest.approx(0.0)

    random = result.per_quarter.filter(pl.col("ranking") == "random ranking (expected)")
    assert random.get_column("precision_at_10").item() == pytest.approx(failures / eligible)
    assert random.get_column("recall_at_10").item() == pytest.approx(10 / eligible)
    assert random.get_column("roc_auc").item() == 0.5


def test_quarters_whose_horizon_is_not_yet_observed_are_left_out() -> None:
    watchlist = pl.concat([_watchlist("2019Q1", AS_OF), _watchlist("2022Q1", date(2022, 3, 31))])
    events = _events(("c00", date(2020, 1, 1)))
    result = evaluate(watchlist, events, horizon_days=1096, complete_until=date(2023, 1, 1))
    assert result.per_quarter.get_column("quarter").unique().to_list() == ["2019Q1"]


def test_lead_time_counts_from_the_first_elevated_quarter() -> None:
    watchlist = pl.concat([_watchlist("2018Q4", date(2018, 12, 31)), _watchlist("2019Q1", AS_OF)])
    event = date(2020, 6, 30)
    result = evaluate(watchlist, _events(("c01", event)), complete_until=date(2030, 1, 1))
    row = result.lead_times.filter(pl.col("council_code") == "c01").row(0, named=True)
    assert row["first_elevated_quarter"] == "2018Q4"
    assert row["lead_time_days"] == (event - date(2018, 12, 31)).days


def test_roc_auc_counts_ties_as_half() -> None:
    assert roc_auc([1.0, 1.0], [True, False]) == pytest.approx(0.5)
    assert roc_auc([3.0, 2.0, 1.0], [True, False, False]) == pytest.approx(1.0)
    assert roc_auc([1.0, 2.0], [True, True]) is None


def test_label_marks_only_events_within_the_horizon() -> None:
    labelled = label(
        _watchlist("2019Q1", AS_OF, n=3),
        _events(("c00", AS_OF + timedelta(days=10)), ("c01", AS_OF + timedelta(days=400))),
        horizon_days=365,
    )
    assert dict(zip(labelled["council_code"], labelled["failed"], strict=True)) == {
        "c00": True,
        "c01": False,
    }


def test_events_file_errors_name_the_line(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("council_code,event_date,event_type\nE06000001,2020-13-01,s114\n")
    with pytest.raises(ValueError, match=r"line\(s\) \[2\]"):
        read_events(events)
    events.write_text("council,event_date\nE06000001,2020-01-01\n")
    with pytest.raises(ValueError, match="council_code"):
        read_events(events)


def _run_cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "EARLY_WARNING_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": "",
    }
    env.pop("DAGSTER_HOME")
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_cli_backtest_with_own_events_changes_no_score(tmp_path: Path) -> None:
    """Through the command line, as an analyst runs it: rebuilding everything with another
    events file changes the backtest report and no watchlist figure."""
    data = tmp_path / "data"
    estate = make_estate(scale=0.1, seed=11)
    write_estate(data, estate, seed=11)
    built = _run_cli(
        ["run", "--from", "2018Q4", "--to", "2019Q4", "--complete-until", "2024-01-01"], data
    )
    assert built.returncode == 0, built.stderr[-2000:]
    watchlist_dir = data / "output" / "watchlist"
    before = pl.read_parquet(watchlist_dir, hive_partitioning=True).drop("run_id")
    report = data / "output" / "backtest" / "backtest.md"
    assert report.exists() and (report.parent / "lift.png").stat().st_size > 0

    distressed = sorted(estate.distressed)
    events = tmp_path / "my_events.csv"
    events.write_text(
        "council_code,event_date,event_type\n"
        + "".join(f"{code},2020-06-30,exceptional financial support\n" for code in distressed)
    )
    rerun = _run_cli(
        [
            *("run", "--from", "2018Q4", "--to", "2019Q4"),
            *("--events", str(events), "--complete-until", "2024-01-01"),
        ],
        data,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    text = report.read_text()
    assert str(events) in text
    assert "exceptional financial support" in text

    after = pl.read_parquet(watchlist_dir, hive_partitioning=True).drop("run_id")
    assert after.sort("quarter", "council_code").equals(before.sort("quarter", "council_code"))
