"""Step 2, raw -> validated: type, check and resolve every source against the council register.

Each source's rows either pass into `validated.<source>` or go to `validated.quarantine` with
the file, row, column, check and value that stopped them. Two asset checks per source make
this visible in the UI: whether any row was rejected, and whether every raw row is accounted
for (raw = validated + quarantined, per load).
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from assets.raw import BIG_INPUT_DUCKDB_MEMORY, limited_memory
from checks.schemas import STAGING_SPECS
from checks.validation import (
    OUT_OF_SCOPE,
    QUARANTINE_SCHEMA,
    REJECTED,
    Staged,
    StructuralValidationError,
    count_invariant,
    count_invariant_from_counts,
    load_counts,
    stage_rows,
)
from pipelines.catalogue import load_catalogue
from pipelines.resources import Warehouse
from pipelines.sql import load_sql, query_frame, with_identifiers

ROWS_PASS_SCHEMA = "rows_pass_schema"
RAW_ROWS_ACCOUNTED_FOR = "raw_rows_accounted_for"
PREVIEW_ROWS = 20

# The register must be validated first: every other source resolves its council codes
# through it (GSS codes via the code map, register codes via the register itself).
CODE_MAP_ASSET = dg.AssetKey(["validated", "council_code_map"])
REGISTER_ASSET = dg.AssetKey(["validated", "council_register"])
NAME_LOOKUP_ASSETS = [REGISTER_ASSET, dg.AssetKey(["validated", "council_name_lookup"])]
CODE_MAP_NEEDS = {
    "gss": [CODE_MAP_ASSET],
    "register_code": [REGISTER_ASSET],
    # The name lookup is validated against the register, so it comes after it.
    "name": NAME_LOOKUP_ASSETS,
}
CODE_MAP_SQL = {
    "gss": "staging/gss_code_map",
    "register_code": "staging/register_code_map",
    "ecode": "staging/ecode_map",
    "name": "staging/name_code_map",
}

# A source with more current raw rows than PARTITION_ROWS is validated in partitions of about
# that many rows rather than in one frame, so memory stays flat however big the file (the Data
# Explorer long file is 18 million rows at the benchmarks' 100x scale). A partition holds every
# row sharing a value of the source's partition columns. That is only safe where every check
# that compares rows (exact duplicates, the model's unique keys) compares rows that agree on
# those raw, unparsed columns, and the source's `derive` works row by row: so partition columns
# are declared here, per source, never inferred. The result is the same rows as one frame
# would give, in partition order rather than file order (every reader of a validated table
# orders or aggregates explicitly). benchmarks/test_partitioned_validation.py checks this.
PARTITION_BY: dict[str, tuple[str, ...]] = {
    # Unique key (council_code, financial_year, metric_id); duplicates compare all content.
    "data_explorer_metrics": ("financial_year", "metric_id"),
}
PARTITION_ROWS = 500_000
# The order raw/current_rows returns rows in (NULLs last, as DuckDB sorts them).
FILE_ORDER = ["source_path", "source_row_number", "source_column"]


def _markdown(frame: pl.DataFrame, limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    if frame.is_empty():
        return dg.MetadataValue.md("_none_")
    shown = frame.head(limit)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "/") for v in row) + " |"
        for row in shown.iter_rows()
    ]
    more = [f"\n_{frame.height - limit} more rows_"] if frame.height > limit else []
    return dg.MetadataValue.md("\n".join([header, rule, *body, *more]))


def _current_paths(connection: duckdb.DuckDBPyConnection, source_id: str) -> list[str]:
    sizes = _partition_sizes(connection, source_id, ("source_path",))
    return sorted(key[0] for key in sizes.get_column("partition_key").to_list())


def read_current_rows(connection: duckdb.DuckDBPyConnection, source_id: str) -> pl.DataFrame:
    spec = load_catalogue()[source_id]
    return query_frame(
        connection,
        with_identifiers("raw/current_rows", table=spec.raw_table),
        {"source_id": source_id},
    )


def _arrow(frame: pl.DataFrame):
    """The frame as Arrow without copying its text: string views, which DuckDB reads as they
    are (the default, large strings, copies every string of a big frame once more)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def write_validated(
    connection: duckdb.DuckDBPyConnection,
    source_id: str,
    staged: Staged,
    parquet_parts: list[Path] | None = None,
) -> None:
    """Replace the validated table and this source's quarantine in one transaction. The rows
    are `staged.valid`, or (a source validated in partitions) the Parquet files of its parts,
    streamed into the table in order."""
    connection.execute(load_sql("staging/create_validated_schema"))
    connection.execute("BEGIN TRANSACTION")
    try:
        if parquet_parts is None:
            connection.register("validated_rows", _arrow(staged.valid))
        else:
            connection.read_parquet([str(part) for part in parquet_parts]).create_view(
                "validated_rows", replace=True
            )
        connection.execute(
            with_identifiers("staging/replace_validated_table", table=f"validated.{source_id}")
        )
        if parquet_parts is None:
            connection.unregister("validated_rows")
        else:
            connection.execute("DROP VIEW validated_rows")
        connection.execute(load_sql("staging/clear_quarantine"), {"source_id": source_id})
        connection.register("quarantine_rows", _arrow(staged.quarantine))
        connection.execute(load_sql("staging/append_quarantine"))
        connection.unregister("quarantine_rows")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


@dataclass
class Validation:
    """What validating one source produced: a sample of the validated rows (all of them, unless
    the source was validated in partitions), the whole quarantine and the per-load invariant."""

    staged: Staged
    raw_rows: int
    valid_rows: int
    invariant: pl.DataFrame


def _key_columns(columns: tuple[str, ...]) -> str:
    return ", ".join(f"r.{c}" for c in columns)


def _partition_sizes(
    connection: duckdb.DuckDBPyConnection, source_id: str, columns: tuple[str, ...]
) -> pl.DataFrame:
    """`partition_key` (the columns' values as a list) and `n_rows`, in key order."""
    spec = load_catalogue()[source_id]
    statement = with_identifiers(
        "raw/current_partition_sizes", table=spec.raw_table, columns=_key_columns(columns)
    )
    return query_frame(connection, statement, {"source_id": source_id})


def _partitions(sizes: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Number consecutive keys into partitions of at most `limit` rows (a key bigger than that
    is a partition of its own)."""
    numbers: list[int] = []
    number, rows = 0, 0
    for count in sizes.get_column("n_rows").to_list():
        if rows and rows + count > limit:
            number, rows = number + 1, 0
        numbers.append(number)
        rows += count
    return sizes.select("partition_key").with_columns(
        pl.Series("partition", numbers, dtype=pl.Int64)
    )


def _validate_in_partitions(
    connection: duckdb.DuckDBPyConnection,
    source_id: str,
    sizes: pl.DataFrame,
    code_maps: dict[str, pl.DataFrame],
    scratch: Path,
) -> tuple[Validation, list[Path]]:
    """Validate a big source partition by partition (see PARTITION_BY), given its rows per
    partition key (`_partition_sizes`): each partition's validated rows go to a Parquet file
    under `scratch`, its quarantine and counts are kept."""
    spec = STAGING_SPECS[source_id]
    source = load_catalogue()[source_id]
    columns = PARTITION_BY[source_id]
    keys = _partitions(sizes, PARTITION_ROWS)
    statement = with_identifiers(
        "raw/current_partition_rows",
        table=source.raw_table,
        columns=_key_columns(columns),
        first_column=columns[0],
    )
    parts: list[Path] = []
    quarantines: list[pl.DataFrame] = []
    raw_counts: list[pl.DataFrame] = []
    valid_counts: list[pl.DataFrame] = []
    sample: pl.DataFrame | None = None
    connection.register("partition_keys", keys.to_arrow())
    try:
        for number in range(int(keys.get_column("partition").max() or 0) + 1):
            bounds = query_frame(
                connection, load_sql("raw/partition_bounds"), {"partition": number}
            )
            raw = query_frame(
                connection,
                statement,
                {"source_id": source_id, "partition": number, **bounds.row(0, named=True)},
            ).sort(FILE_ORDER, nulls_last=True)
            staged = stage_rows(raw, spec, source_id, code_maps, source.publication_lag_days)
            part = scratch / f"part-{number:05d}.parquet"
            staged.valid.write_parquet(part, compression="lz4")
            parts.append(part)
            quarantines.append(staged.quarantine)
            raw_counts.append(load_counts(raw, "raw_rows"))
            valid_counts.append(load_counts(staged.valid, "validated_rows"))
            if sample is None:
                sample = staged.valid.head(0)
            del raw, staged
    finally:
        connection.unregister("partition_keys")
    quarantine = (
        pl.concat(quarantines, how="vertical_relaxed")
        if quarantines
        else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )

    def added(frames: list[pl.DataFrame], name: str) -> pl.DataFrame:
        return pl.concat(frames).group_by("load_id").agg(pl.col(name).sum()).sort("load_id")

    raw_per_load = added(raw_counts, "raw_rows")
    valid_per_load = added(valid_counts, "validated_rows")
    staged = Staged(valid=sample if sample is not None else pl.DataFrame(), quarantine=quarantine)
    validation = Validation(
        staged=staged,
        raw_rows=int(raw_per_load.get_column("raw_rows").sum()),
        valid_rows=int(valid_per_load.get_column("validated_rows").sum()),
        invariant=count_invariant_from_counts(raw_per_load, valid_per_load, quarantine),
    )
    return validation, parts


def _check_results(
    key: dg.AssetKey, staged: Staged, invariant: pl.DataFrame
) -> list[dg.AssetCheckResult]:
    rejected = staged.quarantine.filter(pl.col("disposition") == REJECTED)
    by_check = (
        rejected.group_by("column_name", "reason")
        .agg(pl.len().alias("rows"))
        .sort("rows", descending=True)
    )
    balanced = bool(invariant.get_column("balanced").all()) if invariant.height else True
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=ROWS_PASS_SCHEMA,
            passed=rejected.is_empty(),
            severity=dg.AssetCheckSeverity.WARN,
            description="Rows that failed the source's pandera model, parsing or council codes "
            "are quarantined; the rest go on.",
            metadata={
                "rejected_rows": staged.quarantine.filter(pl.col("disposition") == REJECTED)
                .unique(["load_id", "source_row_number", "source_column"])
                .height,
                "failures_by_check": _markdown(by_check),
                "sample": _markdown(
                    rejected.select(
                        "source_path",
                        "source_row_number",
                        "source_column",
                        "column_name",
                        "failure_value",
                        "reason",
                    )
                ),
            },
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=RAW_ROWS_ACCOUNTED_FOR,
            passed=balanced,
            severity=dg.AssetCheckSeverity.ERROR,
            description="Per load: raw rows = validated rows + quarantined rows.",
            metadata={"per_load": _markdown(invariant)},
        ),
    ]


def _column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


def build_validated_asset(source_id: str) -> dg.AssetsDefinition:
    spec = STAGING_SPECS[source_id]
    source = load_catalogue()[source_id]
    key = dg.AssetKey(["validated", source_id])
    rule = spec.council_code
    needs: list[dg.AssetKey] = []
    if rule is not None:
        for via in (rule.via, *([rule.fallback_via] if rule.fallback_column else [])):
            needs += CODE_MAP_NEEDS.get(via, [])
        if "name" in (rule.via, rule.fallback_via):
            needs += [dg.AssetKey(["validated", name]) for name in rule.name_map_needs]
    deps = [dg.AssetKey(["raw", source_id]), *dict.fromkeys(needs)]

    @dg.asset(
        key=key,
        deps=deps,
        group_name="validated",
        kinds={"duckdb", "pandera"},
        pool="warehouse",
        description=f"Validated {source.title}. Schema: {spec.model.__name__} "
        f"(checks/schemas). {(spec.model.__doc__ or '').strip()}",
        check_specs=[
            dg.AssetCheckSpec(ROWS_PASS_SCHEMA, asset=key, description="No row was rejected."),
            dg.AssetCheckSpec(
                RAW_ROWS_ACCOUNTED_FOR,
                asset=key,
                description="Raw rows = validated rows + quarantined rows, per load.",
            ),
        ],
    )
    def validated_source(
        context: dg.AssetExecutionContext, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        with (
            warehouse.connect() as connection,
            limited_memory(connection, BIG_INPUT_DUCKDB_MEMORY),
        ):
            code_maps = {}
            if spec.council_code is not None:
                rule = spec.council_code
                for via in {rule.via, *([rule.fallback_via] if rule.fallback_column else [])}:
                    code_maps[via] = query_frame(connection, load_sql(CODE_MAP_SQL[via]))
                if rule.extra_name_map_sql is not None:
                    extra = query_frame(connection, load_sql(rule.extra_name_map_sql))
                    code_maps["name"] = pl.concat([code_maps["name"], extra], how="vertical")
            # One scan of the raw table gives both the size and, if it is big, the partitions.
            sizes = (
                _partition_sizes(connection, source_id, PARTITION_BY[source_id])
                if source_id in PARTITION_BY
                else None
            )
            if sizes is not None and int(sizes.get_column("n_rows").sum()) > PARTITION_ROWS:
                with tempfile.TemporaryDirectory(prefix=f"early-warning-{source_id}-") as scratch:
                    try:
                        result, parts = _validate_in_partitions(
                            connection, source_id, sizes, code_maps, Path(scratch)
                        )
                    except StructuralValidationError as error:
                        paths = _current_paths(connection, source_id)
                        raise dg.Failure(
                            description=f"{source_id} ({', '.join(paths)}): {error}",
                        ) from error
                    write_validated(connection, source_id, result.staged, parts)
            else:
                raw = read_current_rows(connection, source_id)
                try:
                    staged = stage_rows(
                        raw, spec, source_id, code_maps, source.publication_lag_days
                    )
                except StructuralValidationError as error:
                    paths = (
                        sorted(set(raw.get_column("source_path").to_list())) if raw.height else []
                    )
                    raise dg.Failure(
                        description=f"{source_id} ({', '.join(paths)}): {error}",
                    ) from error
                result = Validation(
                    staged=staged,
                    raw_rows=raw.height,
                    valid_rows=staged.valid.height,
                    invariant=count_invariant(raw, staged),
                )
                write_validated(connection, source_id, staged)
                del raw
        staged, invariant = result.staged, result.invariant
        rejected = staged.quarantine.filter(pl.col("disposition") == REJECTED)
        out_of_scope = staged.quarantine.filter(pl.col("disposition") == OUT_OF_SCOPE)
        context.log.info(
            f"{source_id}: {result.raw_rows} raw rows -> {result.valid_rows} validated, "
            f"{staged.quarantined_rows} quarantined "
            f"({rejected.unique(['load_id', 'source_row_number', 'source_column']).height} "
            f"rejected, {out_of_scope.height} out of scope)"
        )
        for row in rejected.head(PREVIEW_ROWS).iter_rows(named=True):
            context.log.warning(
                f"{row['source_path']} row {row['source_row_number']}"
                f"{' [' + row['source_column'] + ']' if row['source_column'] else ''} "
                f"column {row['column_name']}: {row['reason']} (value {row['failure_value']!r})"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.valid_rows,
                "dagster/column_schema": _column_schema(staged.valid),
                "raw_rows": result.raw_rows,
                "quarantined_rows": staged.quarantined_rows,
                "rejected_rows": rejected.unique(
                    ["load_id", "source_row_number", "source_column"]
                ).height,
                "out_of_scope_rows": out_of_scope.height,
                "quarantine_sample": _markdown(
                    staged.quarantine.select(
                        "disposition",
                        "source_path",
                        "source_row_number",
                        "column_name",
                        "failure_value",
                        "reason",
                    )
                ),
                "table": f"validated.{source_id}",
            },
            check_results=_check_results(key, staged, invariant),
        )

    return validated_source


@dg.asset(
    key=CODE_MAP_ASSET,
    deps=[REGISTER_ASSET, dg.AssetKey(["validated", "council_gss_lookup"])],
    group_name="validated",
    kinds={"duckdb"},
    pool="warehouse",
    description="Every code a source may use for an English council (its GSS code, former "
    "GSS codes, lookup entries) mapped to the register's code. Ambiguous codes are left out.",
)
def council_code_map(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        connection.execute(load_sql("staging/code_candidates"))
        connection.execute(load_sql("staging/council_code_map"))
        mapped = query_frame(connection, load_sql("staging/gss_code_map"))
        ambiguous = query_frame(connection, load_sql("staging/ambiguous_council_codes"))
    if ambiguous.height:
        context.log.warning(f"{ambiguous.height} codes map to more than one council; left out")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": mapped.height,
            "ambiguous_codes": _markdown(ambiguous),
            "table": "validated.council_code_map",
        }
    )


validated_assets = [build_validated_asset(source_id) for source_id in STAGING_SPECS]
