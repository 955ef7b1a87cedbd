"""The code location with Dagster's multiprocess executor: one process per step.

The shipped code location (pipelines/definitions.py) runs every step of a run in the run's own
process (`in_process_executor`), because every step writes the one DuckDB file. These are the
same assets, resources and jobs with `multiprocess_executor` instead, for measuring what a
process per step buys and costs (benchmarks/test_multiprocess.py):

    EARLY_WARNING_DATA_DIR=... python -m benchmarks.multiprocess --max-concurrent 2

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

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=quality_checks,
    jobs=[ingest_job],
    resources=resources_for(settings),
    executor=dg.multiprocess_executor,
)


def ingest_and_validate() -> dg.JobDefinition:
    """The ingest job, reconstructable in each step's process."""
    return defs.resolve_job_def("ingest_and_validate")


def run_ingest(instance: dg.DagsterInstance, max_concurrent: int) -> dg.ExecuteJobResult:
    config = {"execution": {"config": {"max_concurrent": max_concurrent}}}
    return dg.execute_job(
        dg.reconstructable(ingest_and_validate),
        instance=instance,
        run_config=config,
        raise_on_error=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument(
        "--in-process", action="store_true", help="the shipped executor instead, to compare"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        if args.in_process:
            from pipelines.definitions import defs as shipped

            job = shipped.resolve_job_def("ingest_and_validate")
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        else:
            result = run_ingest(instance, args.max_concurrent)
    print(f"run_id={result.run_id} success={result.success}")
    print(f"seconds={time.perf_counter() - started:.2f}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
