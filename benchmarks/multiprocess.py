"""The code location with Dagster's multiprocess executor: one process per step.

The shipped code location (pipelines/definitions.py) runs every step of a run in the run's own
process (`in_process_executor`), because every step writes the one DuckDB file. These are the
same assets, resources and jobs with `multiprocess_executor` instead, for measuring what a
process per step buys and costs (tests/test_multiprocess.py):

    EARLY_WARNING_DATA_DIR=... python -m benchmarks.multiprocess --max-concurrent 2 [--job J]

`--job registers_only` (what the test suite runs) lands four registers, which have no upstream
and so could all run at once, and validates the council register (with its expectation suite):
six steps, quick enough to
run on every change; `ingest_and_validate` (the default) is every raw and validated asset.

The instance (DAGSTER_HOME/dagster.yaml) decides how many `warehouse` steps may run at once:
the shipped dagster.yaml allows one (`concurrency.pools.default_limit: 1`).
"""

from __future__ import annotations

import argparse
import sys
import time

import dagster as dg

from assets.quality import quality_checks
from pipelines.definitions import all_assets, settings
from pipelines.jobs import ingest_job
from pipelines.profiles import resources_for

registers_job = dg.define_asset_job(
    "registers_only",
    selection=dg.AssetSelection.assets(
        ["raw", "council_register"],
        ["raw", "section114_notices"],
        ["raw", "interventions"],
        ["raw", "audit_findings"],
        ["validated", "council_register"],
    ),
)


def _definitions(executor: dg.ExecutorDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=all_assets,
        asset_checks=quality_checks,
        jobs=[ingest_job, registers_job],
        resources=resources_for(settings),
        executor=executor,
    )


defs = _definitions(dg.multiprocess_executor)
# The same jobs as the shipped code location runs them, for comparison.
in_process_defs = _definitions(dg.in_process_executor)


def ingest_and_validate() -> dg.JobDefinition:
    """The ingest job, reconstructable in each step's process."""
    return defs.resolve_job_def("ingest_and_validate")


def registers_only() -> dg.JobDefinition:
    return defs.resolve_job_def("registers_only")


JOBS = {"ingest_and_validate": ingest_and_validate, "registers_only": registers_only}


def run_job(instance: dg.DagsterInstance, job: str, max_concurrent: int) -> dg.ExecuteJobResult:
    config = {"execution": {"config": {"max_concurrent": max_concurrent}}}
    return dg.execute_job(
        dg.reconstructable(JOBS[job]),
        instance=instance,
        run_config=config,
        raise_on_error=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--job", choices=sorted(JOBS), default="ingest_and_validate")
    parser.add_argument(
        "--in-process", action="store_true", help="the shipped executor instead, to compare"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        if args.in_process:
            job = in_process_defs.resolve_job_def(args.job)
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        else:
            result = run_job(instance, args.job, args.max_concurrent)
    print(f"run_id={result.run_id} success={result.success}")
    print(f"seconds={time.perf_counter() - started:.2f}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
