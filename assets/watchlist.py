"""Step 5, scores -> watchlist: the ranked, explained watchlist and its evidence, published as
Hive-partitioned Parquet (`watchlist/quarter=2018Q1/`, `flags/quarter=2018Q1/`)."""

import hashlib
from datetime import UTC, datetime

import dagster as dg
import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

import pipelines
from assets.point_in_time import quarters_of, register_context, replace_quarters
from checks.outputs import FLAGS_ARROW_SCHEMA, WATCHLIST_ARROW_SCHEMA, Watchlist
from pipelines.indicator_catalogue import IndicatorCatalogue, load_indicator_catalogue
from pipelines.partitions import quarterly_partitions
from pipelines.resources import ParquetOutputs, Warehouse
from pipelines.sql import load_sql, query_frame

WATCHLIST_KEY = dg.AssetKey(["watchlist", "watchlist"])
TOP_ROWS = 15


def source_files_fingerprint(connection) -> str:
    """One hash of every current source file (path and sha256): what this run read."""
    loads = query_frame(connection, load_sql("watchlist/current_inputs"))
    digest = hashlib.sha256()
    for row in loads.iter_rows():
        digest.update("|".join(str(v) for v in row).encode())
    return digest.hexdigest()


def quarter_fingerprints(connection, catalogue: IndicatorCatalogue) -> pl.DataFrame:
    """Per quarter, a hash of the catalogue and of everything public by its as-of date that
    the watchlist used, so equal fingerprints mean equal inputs for that quarter."""
    evidence = query_frame(connection, load_sql("watchlist/evidence_fingerprint"))
    return evidence.select(
        "quarter",
        pl.col("evidence_sha256")
        .map_elements(
            lambda value: hashlib.sha256(f"{catalogue.sha256}|{value}".encode()).hexdigest(),
            return_dtype=pl.String,
        )
        .alias("inputs_sha256"),
    )


def _to_arrow(frame: pl.DataFrame, schema: pa_arrow.Schema) -> pa_arrow.Table:
    return frame.select(schema.names).to_arrow().cast(schema)


def _top_table(frame: pl.DataFrame) -> str:
    top = frame.filter(~pl.col("known_case")).sort("rank").head(TOP_ROWS)
    lines = ["| rank | council | type | score | band | flags | coverage | top reasons |"]
    lines.append("|---:|---|---|---:|---|---:|---:|---|")
    for r in top.iter_rows(named=True):
        reasons = (r["top_reasons"] or "").replace("|", "/")
        lines.append(
            f"| {r['rank']} | {r['council_name']} ({r['council_code']}) | {r['council_type']} "
            f"| {r['risk_score']:.2f} | {r['risk_band']} | {r['n_flags']} "
            f"| {r['coverage']:.0%} | {reasons} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=WATCHLIST_KEY,
    deps=[
        dg.AssetKey(["scores", "indicator_scores"]),
        # Known cases and the citations of governance flags come from the registers.
        *(
            dg.AssetKey(["validated", name])
            for name in (
                "section114_notices",
                "interventions",
                "exceptional_financial_support",
                "best_value_notices",
                "audit_findings",
                "peer_challenges",
            )
        ),
    ],
    partitions_def=quarterly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="watchlist",
    kinds={"parquet", "duckdb"},
    pool="warehouse",
    description="The ranked, explained watchlist per quarter (Parquet, Hive-partitioned) and "
    "the long flags table beside it. Evidence for a conversation, not a judgement: known "
    "cases are ranked apart, missing data is reported as coverage.",
    check_specs=[
        dg.AssetCheckSpec(
            "watchlist_schema", asset=WATCHLIST_KEY, description="Columns, types and ranges."
        ),
        dg.AssetCheckSpec(
            "score_is_sum_of_contributions",
            asset=WATCHLIST_KEY,
            description="Every risk score equals the sum of its flags' contributions.",
        ),
    ],
)
def watchlist(
    context: dg.AssetExecutionContext, warehouse: Warehouse, parquet_outputs: ParquetOutputs
) -> dg.MaterializeResult:
    quarters = quarters_of(context)
    catalogue = load_indicator_catalogue()
    with warehouse.connect() as connection:
        register_context(connection, quarters, catalogue)
        params = {
            "min_coverage": catalogue.min_coverage,
            "known_case_years": catalogue.known_case_years,
            "top_reasons": catalogue.top_reasons,
        }
        ranked = query_frame(connection, load_sql("watchlist/watchlist"), params)
        connection.execute(load_sql("watchlist/citations"))
        flags = query_frame(connection, load_sql("watchlist/flags"))
        files_fingerprint = source_files_fingerprint(connection)
        ranked = ranked.join(
            quarter_fingerprints(connection, catalogue), on="quarter", how="left"
        ).with_columns(
            pl.lit(context.run_id).alias("run_id"),
            pl.lit(pipelines.__version__).alias("pipeline_version"),
        )
        flags = flags.with_columns(pl.lit(context.run_id).alias("run_id"))
        try:
            Watchlist.validate(ranked, lazy=True)
        except pa.errors.SchemaErrors as error:
            raise dg.Failure(
                description="The watchlist does not match its published schema; nothing was "
                f"written.\n{error.failure_cases.head(20)}"
            ) from error
        replace_quarters(connection, "watchlist.watchlist", ranked)

    sums = flags.group_by("quarter", "council_code").agg(pl.col("contribution").sum())
    mismatched = ranked.join(sums, on=["quarter", "council_code"], how="left").filter(
        (pl.col("risk_score") - pl.col("contribution").fill_null(0)).abs() > 1e-9
    )
    paths = []
    for quarter in quarters.get_column("quarter").to_list():
        for dataset, frame, schema in (
            ("watchlist", ranked, WATCHLIST_ARROW_SCHEMA),
            ("flags", flags, FLAGS_ARROW_SCHEMA),
        ):
            part = frame.filter(pl.col("quarter") == quarter)
            paths.append(parquet_outputs.write_partition(dataset, quarter, _to_arrow(part, schema)))
        context.log.info(f"published watchlist and flags for {quarter}")

    latest = quarters.get_column("quarter").max()
    latest_rows = ranked.filter(pl.col("quarter") == latest)
    bands = latest_rows.group_by("risk_band").agg(pl.len().alias("councils")).sort("risk_band")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": ranked.height,
            "quarters": ", ".join(quarters.get_column("quarter").to_list()),
            "latest_quarter": latest,
            "top_of_watchlist": dg.MetadataValue.md(_top_table(latest_rows)),
            "councils_by_band": dg.MetadataValue.md(
                "\n".join(
                    ["| band | councils |", "|---|---:|"]
                    + [f"| {r['risk_band']} | {r['councils']} |" for r in bands.to_dicts()]
                )
            ),
            "known_cases": int(latest_rows.get_column("known_case").sum()),
            "mean_coverage": float(latest_rows.get_column("coverage").mean() or 0.0),
            "source_files_sha256": files_fingerprint,
            "catalogue_sha256": catalogue.sha256,
            "watchlist_path": dg.MetadataValue.path(
                str(parquet_outputs.partition_path("watchlist", latest))
            ),
            "flags_path": dg.MetadataValue.path(
                str(parquet_outputs.partition_path("flags", latest))
            ),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        check_results=[
            dg.AssetCheckResult(check_name="watchlist_schema", passed=True),
            dg.AssetCheckResult(
                check_name="score_is_sum_of_contributions",
                passed=mismatched.is_empty(),
                metadata={"mismatched_councils": mismatched.height},
            ),
        ],
    )
