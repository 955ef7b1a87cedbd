"""Step 2, raw -> validated: type, check and resolve every source against the council register.

Each source's rows either pass into `validated.<source>` or go to `validated.quarantine` with
the file, row, column, check and value that stopped them. Two asset checks per source make
this visible in the UI: whether any row was rejected, and whether every raw row is accounted
for (raw = validated + quarantined, per load).
"""

import dagster as dg
import duckdb
import polars as pl

from checks.schemas import STAGING_SPECS
from checks.validation import (
    OUT_OF_SCOPE,
    REJECTED,
    Staged,
    StructuralValidationError,
    count_invariant,
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
CODE_MAP_NEEDS = {"gss": CODE_MAP_ASSET, "register_code": REGISTER_ASSET}
CODE_MAP_SQL = {
    "gss": "staging/gss_code_map",
    "register_code": "staging/register_code_map",
    "ecode": "staging/ecode_map",
}


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


def read_current_rows(connection: duckdb.DuckDBPyConnection, source_id: str) -> pl.DataFrame:
    spec = load_catalogue()[source_id]
    return query_frame(
        connection,
        with_identifiers("raw/current_rows", table=spec.raw_table),
        {"source_id": source_id},
    )


def write_validated(connection: duckdb.DuckDBPyConnection, source_id: str, staged: Staged) -> None:
    """Replace the validated table and this source's quarantine in one transaction."""
    connection.execute(load_sql("staging/create_validated_schema"))
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("validated_rows", staged.valid.to_arrow())
        connection.execute(
            with_identifiers("staging/replace_validated_table", table=f"validated.{source_id}")
        )
        connection.unregister("validated_rows")
        connection.execute(load_sql("staging/clear_quarantine"), {"source_id": source_id})
        connection.register("quarantine_rows", staged.quarantine.to_arrow())
        connection.execute(load_sql("staging/append_quarantine"))
        connection.unregister("quarantine_rows")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


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
    needs = CODE_MAP_NEEDS[spec.council_code.via] if spec.council_code else None
    deps = [dg.AssetKey(["raw", source_id]), *([needs] if needs else [])]

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
        with warehouse.connect() as connection:
            raw = read_current_rows(connection, source_id)
            code_maps = {}
            if spec.council_code is not None:
                rule = spec.council_code
                for via in {rule.via, *([rule.fallback_via] if rule.fallback_column else [])}:
                    code_maps[via] = query_frame(connection, load_sql(CODE_MAP_SQL[via]))
            try:
                staged = stage_rows(raw, spec, source_id, code_maps, source.publication_lag_days)
            except StructuralValidationError as error:
                paths = sorted(set(raw.get_column("source_path").to_list())) if raw.height else []
                raise dg.Failure(
                    description=f"{source_id} ({', '.join(paths)}): {error}",
                ) from error
            invariant = count_invariant(raw, staged)
            write_validated(connection, source_id, staged)
        rejected = staged.quarantine.filter(pl.col("disposition") == REJECTED)
        out_of_scope = staged.quarantine.filter(pl.col("disposition") == OUT_OF_SCOPE)
        context.log.info(
            f"{source_id}: {raw.height} raw rows -> {staged.valid.height} validated, "
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
                "dagster/row_count": staged.valid.height,
                "dagster/column_schema": _column_schema(staged.valid),
                "raw_rows": raw.height,
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
