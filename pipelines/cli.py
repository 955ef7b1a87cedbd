"""`early-warning`: run the pipeline from a shell, as the scheduled job does."""

from __future__ import annotations

import argparse
import os
import sys

import dagster as dg


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (make sets it) the run is recorded where the UI can show it.
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run(args: argparse.Namespace) -> int:
    from pipelines.definitions import defs, settings

    job = defs.resolve_job_def("ingest_and_validate")
    result = job.execute_in_process(instance=_instance(), raise_on_error=False)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                print(
                    f"FAILED {event.step_key}: {event.step_failure_data.error.message}",
                    file=sys.stderr,
                )
        return 1
    print(f"Warehouse (DuckDB): {settings.warehouse_path}")
    print(f"Outputs:            {settings.output_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="early-warning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise every asset on the configured data")
    run_parser.set_defaults(handler=run)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
