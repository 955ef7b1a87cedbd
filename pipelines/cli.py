"""`early-warning`: run the pipeline from a shell, as the scheduled job does.

early-warning run                     ingest, validate, and build every quarter's watchlist
early-warning run --from 2018Q1 --to 2019Q4
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import dagster as dg

from pipelines.partitions import partition_key_for, quarter_label, quarterly_partitions
from pipelines.profiles import Settings
from pipelines.recovery import (
    SlotWaitTimeout,
    SlotWatch,
    process_tags,
    recover_stale_runs,
    wait_for_pool,
)


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (make sets it) the run is recorded where the UI can show it.
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _report_failure(result: dg.ExecuteInProcessResult) -> None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            message = event.step_failure_data.error.message.strip().splitlines()
            print(f"FAILED {event.step_key}: {' '.join(message[:3])}", file=sys.stderr)


def _execute(
    job_name: str,
    instance: dg.DagsterInstance,
    tags: dict | None = None,
    config: dict | None = None,
) -> bool:
    from pipelines.definitions import defs

    # INFO shows each step's own progress lines; Dagster's DEBUG engine events stay in the
    # instance's event log (and the UI) rather than flooding the terminal.
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}, **(config or {})}
    job = defs.resolve_job_def(job_name)
    if instance.is_ephemeral:
        result = job.execute_in_process(
            instance=instance, tags=tags or {}, run_config=run_config, raise_on_error=False
        )
    else:
        # A run killed earlier may still hold the warehouse slot: free it, then wait (bounded)
        # for a slot a live run holds, before this run starts.
        wait = Settings.from_environment().slot_wait_seconds
        try:
            recover_stale_runs(instance, _say)
            wait_for_pool(instance, wait, _say)
        except SlotWaitTimeout as error:
            print(f"FAILED {job_name}: {error}", file=sys.stderr)
            return False
        run_id = str(uuid.uuid4())
        with SlotWatch(instance, run_id, wait, _say) as watch:
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags={**(tags or {}), **process_tags()},
                run_config=run_config,
                raise_on_error=False,
            )
        if watch.timed_out:
            print(f"FAILED {job_name}: {watch.timed_out}", file=sys.stderr)
            return False
    if not result.success:
        _report_failure(result)
    return result.success


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _backtest_config(args: argparse.Namespace) -> dict:
    settings = {
        "events_path": os.path.abspath(args.events) if args.events else "",
        "horizon_days": args.horizon_days,
        "complete_until": args.complete_until or "",
    }
    return {"ops": {"backtest__backtest_report": {"config": settings}}}


def run(args: argparse.Namespace) -> int:
    from pipelines.definitions import settings

    keys = quarterly_partitions.get_partition_keys()
    first = partition_key_for(args.first) if args.first else keys[0]
    last = partition_key_for(args.last) if args.last else keys[-1]
    instance = _instance()
    print("Ingesting and validating every source...")
    if not _execute("ingest_and_validate", instance):
        return 1
    print(f"Building watchlists {quarter_label(first)} to {quarter_label(last)}...")
    quarters = {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
    if not _execute("quarterly_watchlist", instance, tags=quarters):
        return 1
    print("Backtesting...")
    if not _execute("backtest", instance, config=_backtest_config(args)):
        return 1
    evidence_quarter = _latest_quarter_with_evidence(settings.warehouse_path, quarter_label(last))
    if evidence_quarter and evidence_quarter != quarter_label(last):
        print(
            f"No council is flagged in {quarter_label(last)} (no fresh public data); "
            f"writing briefing packs for {evidence_quarter}, the latest quarter with flags..."
        )
        tags = {"dagster/partition": partition_key_for(evidence_quarter)}
        if not _execute("briefing_packs", instance, tags=tags):
            return 1
    output = settings.output_dir
    print(f"Warehouse (DuckDB):  {settings.warehouse_path}")
    print(f"Watchlist (Parquet): {output / 'watchlist'}/quarter={quarter_label(last)}/")
    print(f"Flags (Parquet):     {output / 'flags'}/quarter={quarter_label(last)}/")
    packs_quarter = evidence_quarter or quarter_label(last)
    print(f"Briefing packs:      {output / 'briefings'}/quarter={packs_quarter}/index.html")
    print(f"Backtest report:     {output / 'backtest' / 'backtest.md'}")
    return 0


def _latest_quarter_with_evidence(warehouse_path: Path, up_to: str) -> str | None:
    import duckdb

    from pipelines.sql import load_sql

    with duckdb.connect(str(warehouse_path), read_only=True) as connection:
        row = connection.execute(
            load_sql("watchlist/latest_quarter_with_evidence"), {"up_to": up_to}
        ).fetchone()
    return row[0] if row else None


def brief(args: argparse.Namespace) -> int:
    """Write one council's briefing pack for a quarter already built."""
    from assets.briefings import BriefingError, write_briefing
    from pipelines.profiles import Settings

    settings = Settings.from_environment()
    try:
        path = write_briefing(
            settings.warehouse_path, settings.output_dir, args.quarter, args.council
        )
    except BriefingError as error:
        print(f"early-warning brief: {error}", file=sys.stderr)
        return 2
    print(f"Briefing pack: {path}")
    return 0


def backtest(args: argparse.Namespace) -> int:
    """Backtest the watchlists already built, with an analyst's own events file."""
    from pipelines.definitions import settings

    if args.first or args.last:
        keys = quarterly_partitions.get_partition_keys()
        first = partition_key_for(args.first) if args.first else keys[0]
        last = partition_key_for(args.last) if args.last else keys[-1]
        print(f"Building watchlists {quarter_label(first)} to {quarter_label(last)}...")
        quarters = {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
        if not _execute("quarterly_watchlist", _instance(), tags=quarters):
            return 1
    if not _execute("backtest", _instance(), config=_backtest_config(args)):
        return 1
    print(f"Backtest report: {settings.output_dir / 'backtest' / 'backtest.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="early-warning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise every asset on the configured data")
    run_parser.add_argument("--from", dest="first", help="first quarter, e.g. 2018Q1")
    run_parser.add_argument("--to", dest="last", help="last quarter, e.g. 2023Q4")
    run_parser.set_defaults(handler=run)
    brief_parser = commands.add_parser(
        "brief", help="write one council's briefing pack (HTML) for a quarter already built"
    )
    brief_parser.add_argument("--quarter", required=True, help="the quarter, e.g. 2019Q1")
    brief_parser.add_argument("--council", required=True, help="GSS code, e.g. E06000034")
    brief_parser.set_defaults(handler=brief)
    test_parser = commands.add_parser(
        "backtest", help="backtest built watchlists against an events file"
    )
    test_parser.add_argument("--from", dest="first", help="rebuild quarters from, e.g. 2017Q1")
    test_parser.add_argument("--to", dest="last", help="rebuild quarters to, e.g. 2020Q4")
    test_parser.set_defaults(handler=backtest)
    for sub in (run_parser, test_parser):
        sub.add_argument(
            "--events", help="CSV of council_code,event_date,event_type (default: registers)"
        )
        sub.add_argument("--horizon-days", type=int, default=1096, help="default 1096 (3 years)")
        sub.add_argument(
            "--complete-until", help="events known up to this date (default: the latest event)"
        )
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
