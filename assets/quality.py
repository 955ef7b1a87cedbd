"""Asset checks on finished tables: Great Expectations suites and the freshness of each source.

- `expectation_suite` on the watchlist and the key validated tables: runs the table's suite
  (checks/expectations.py) against the warehouse, read only, and renders the result into the
  Data Docs site at `<output_dir>/data_docs/index.html`.
- `newest_period_is_recent` on every dated validated source: the newest period end in the table
  and its age in days today, against the source's limit (checks/freshness.py).

Both are data problems to look at, not reasons to stop: severity WARN, never ERROR, and never
blocking. The watchlist is partitioned by quarter; its check is not. It validates the whole
`watchlist.watchlist` table, every quarter built so far, so it runs once in any run that builds
the watchlist, a single quarter or a backfill, and can also be run on its own from the UI.
"""

from __future__ import annotations

import dagster as dg
import duckdb

from checks.expectations import SUITES, SuiteOutcome, validate
from checks.freshness import RULES, measure
from pipelines.resources import ParquetOutputs, Warehouse
from pipelines.sql import load_sql, query_frame, with_identifiers

EXPECTATION_SUITE = "expectation_suite"
FRESHNESS = "newest_period_is_recent"
PREVIEW_FAILURES = 20
# Great Expectations validates a pandas frame in memory, several times the table's size. A table
# with more rows than this (the Data Explorer metrics of a much bigger estate) is validated on a
# repeatable sample of about this many rows, and the check says so; every row has already passed
# the source's pandera model (checks/schemas/), so the suite is a second line of defence.
SUITE_ROW_LIMIT = 1_000_000


def _table_exists(connection: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = query_frame(
        connection,
        load_sql("quality/table_exists"),
        {"schema": schema, "name": name},
    )
    return found.height > 0


def _failures_table(outcome: SuiteOutcome) -> dg.MetadataValue:
    if not outcome.failures:
        return dg.MetadataValue.md("_none_")
    lines = ["| expectation | column(s) | unexpected rows | sample | why it matters |"]
    lines.append("|---|---|---:|---|---|")
    for failure in outcome.failures[:PREVIEW_FAILURES]:
        count = "" if failure.unexpected_count is None else str(failure.unexpected_count)
        detail = failure.error or failure.sample
        cells = [failure.expectation, failure.columns, count, detail, failure.notes]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def build_expectation_check(suite_name: str) -> dg.AssetChecksDefinition:
    suite = SUITES[suite_name]
    key = dg.AssetKey(list(suite.asset_key))

    @dg.asset_check(
        asset=key,
        name=EXPECTATION_SUITE,
        description=f"Great Expectations suite `{suite.name}`: {suite.description} Results "
        "are rendered as Data Docs under <output_dir>/data_docs/.",
        pool="warehouse",
    )
    def expectation_suite(
        warehouse: Warehouse, parquet_outputs: ParquetOutputs
    ) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as connection:
            if not _table_exists(connection, suite.table):
                return dg.AssetCheckResult(
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"{suite.table} does not exist yet: materialise the asset first.",
                    metadata={"table": suite.table},
                )
            table_rows = int(
                query_frame(
                    connection, with_identifiers("quality/row_count", table=suite.table)
                ).item()
            )
            if table_rows > SUITE_ROW_LIMIT:
                stride = -(-table_rows // SUITE_ROW_LIMIT)
                frame = query_frame(
                    connection,
                    with_identifiers("quality/table_sample", table=suite.table),
                    {"stride": stride},
                )
            else:
                frame = query_frame(
                    connection, with_identifiers("quality/whole_table", table=suite.table)
                )
        outcome = validate({suite.name: frame.to_pandas()}, parquet_outputs.output_dir)[suite.name]
        sampled = frame.height < table_rows
        metadata: dict[str, object] = {
            "suite": suite.name,
            "rows": outcome.rows,
            "table_rows": table_rows,
            "validated": (
                f"a repeatable sample of {frame.height:,} of {table_rows:,} rows"
                if sampled
                else "every row"
            ),
            "expectations": outcome.evaluated,
            "failed_expectations": len(outcome.failures),
            "failed": "; ".join(f.label for f in outcome.failures) or "none",
            "failures": _failures_table(outcome),
            "data_docs": dg.MetadataValue.path(str(outcome.data_docs_index)),
        }
        if outcome.validation_page is not None:
            metadata["validation_page"] = dg.MetadataValue.path(str(outcome.validation_page))
        if suite.table == "watchlist.watchlist" and outcome.rows:
            quarters = frame.get_column("quarter")
            metadata["quarters"] = f"{quarters.min()} to {quarters.max()} ({quarters.n_unique()})"
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{outcome.evaluated} expectations, all met"
                if outcome.success
                else f"{len(outcome.failures)} of {outcome.evaluated} expectations not met: "
                + "; ".join(f.label for f in outcome.failures)
            )
            + (f" (on a sample of {frame.height:,} of {table_rows:,} rows)." if sampled else "."),
            metadata=metadata,
        )

    return expectation_suite


def build_freshness_check(source_id: str) -> dg.AssetChecksDefinition:
    rule = RULES[source_id]

    @dg.asset_check(
        asset=dg.AssetKey(["validated", source_id]),
        name=FRESHNESS,
        description=f"The newest {rule.column} is at most {rule.max_age_days} days old. "
        f"{rule.rationale}",
        pool="warehouse",
    )
    def newest_period_is_recent(warehouse: Warehouse) -> dg.AssetCheckResult:
        table = f"validated.{source_id}"
        with warehouse.connect(read_only=True) as connection:
            if not _table_exists(connection, table):
                return dg.AssetCheckResult(
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"{table} does not exist yet: materialise the asset first.",
                    metadata={"table": table},
                )
            freshness = measure(connection, source_id)
        metadata: dict[str, object] = {
            "column": rule.column,
            "rows": freshness.rows,
            "newest_period_end": str(freshness.newest) if freshness.newest else "no rows",
            "max_age_days": rule.max_age_days,
            "measured_on": str(freshness.today),
        }
        if freshness.age_days is not None:
            # Only numbers here, so the UI can plot the age over time.
            metadata["age_days"] = freshness.age_days
        return dg.AssetCheckResult(
            passed=freshness.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=freshness.summary,
            metadata=metadata,
        )

    return newest_period_is_recent


expectation_checks = [build_expectation_check(name) for name in SUITES]
freshness_checks = [build_freshness_check(source_id) for source_id in RULES]
quality_checks = [*expectation_checks, *freshness_checks]
