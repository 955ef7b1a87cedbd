"""`early-warning`: run the pipeline from a shell, as the scheduled job does.

early-warning run                     ingest, validate, and build every quarter's watchlist
early-warning run --from 2018Q1 --to 2019Q4
"""

from __future__ import annotations

import argparse
import os
import sys

import dagster as dg

from pipelines.partitions import partition_key_for, quarter_label, quarterly_partitions


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


def run(args: argparse.Namespace) -> int:
    from pipelines.definitions import defs, settings

    keys = quarterly_partitions.get_partition_keys()
    first = partition_key_for(args.first) if args.first else keys[0]
    last = partition_key_for(args.last) if args.last else keys[-1]
    instance = _instance()
    for job_name, tags in (
        ("ingest_and_validate", {}),
        (
            "quarterly_watchlist",
            {
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        ),
    ):
        print(f"Running {job_name} {tags.get('dagster/asset_partition_range_start', '')}...")
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=tags, raise_on_error=False
        )
        if not result.success:
            _report_failure(result)
            return 1
    output = settings.output_dir
    print(f"Quarters built:     {quarter_label(first)} to {quarter_label(last)}")
    print(f"Warehouse (DuckDB): {settings.warehouse_path}")
    print(f"Watchlist (Parquet): {output / 'watchlist'} (quarter=YYYYQn/part-0.parquet)")
    print(f"Flags (Parquet):     {output / 'flags'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="early-warning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise every asset on the configured data")
    run_parser.add_argument("--from", dest="first", help="first quarter, e.g. 2018Q1")
    run_parser.add_argument("--to", dest="last", help="last quarter, e.g. 2023Q4")
    run_parser.set_defaults(handler=run)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
