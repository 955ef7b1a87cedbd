"""The published outputs' schemas: the watchlist and its flags. Downstream tools rely on these
columns and types; the watchlist asset refuses to publish a frame that does not match."""

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

RISK_BANDS = ["high", "elevated", "watch", "no flags", "insufficient data"]

# `quarter` is not stored inside the files: it is the Hive partition (`quarter=2018Q1/`), which
# every reader (pandas, polars, DuckDB, Arrow datasets) turns back into a column. Storing it
# twice makes pandas refuse the dataset.
WATCHLIST_ARROW_SCHEMA = pa_arrow.schema(
    [
        ("as_of_date", pa_arrow.date32()),
        ("council_code", pa_arrow.string()),
        ("council_name", pa_arrow.string()),
        ("council_type", pa_arrow.string()),
        ("region", pa_arrow.string()),
        ("rank", pa_arrow.int64()),
        ("known_case_rank", pa_arrow.int64()),
        ("risk_score", pa_arrow.float64()),
        ("baseline_score", pa_arrow.float64()),
        ("risk_band", pa_arrow.string()),
        ("known_case", pa_arrow.bool_()),
        ("known_case_reason", pa_arrow.string()),
        ("n_flags", pa_arrow.int64()),
        ("flagged_families", pa_arrow.string()),
        ("coverage", pa_arrow.float64()),
        ("n_indicators_applicable", pa_arrow.int64()),
        ("n_indicators_scored", pa_arrow.int64()),
        ("top_reasons", pa_arrow.string()),
        ("inputs_sha256", pa_arrow.string()),
        ("run_id", pa_arrow.string()),
        ("pipeline_version", pa_arrow.string()),
    ]
)

FLAGS_ARROW_SCHEMA = pa_arrow.schema(
    [
        ("as_of_date", pa_arrow.date32()),
        ("council_code", pa_arrow.string()),
        ("council_name", pa_arrow.string()),
        ("indicator_id", pa_arrow.string()),
        ("indicator_name", pa_arrow.string()),
        ("family", pa_arrow.string()),
        ("method", pa_arrow.string()),
        ("polarity", pa_arrow.string()),
        ("state", pa_arrow.string()),
        ("value", pa_arrow.float64()),
        ("unit", pa_arrow.string()),
        ("previous_value", pa_arrow.float64()),
        ("peer_basis", pa_arrow.string()),
        ("peer_group_size", pa_arrow.int64()),
        ("peer_median", pa_arrow.float64()),
        ("robust_z", pa_arrow.float64()),
        ("percentile", pa_arrow.float64()),
        # The share of all councils with data (any type) the value is worse than; a peer
        # indicator's severity is never below it.
        ("national_percentile", pa_arrow.float64()),
        ("threshold", pa_arrow.float64()),
        ("weight", pa_arrow.float64()),
        ("flagged", pa_arrow.bool_()),
        ("severity", pa_arrow.float64()),
        ("contribution", pa_arrow.float64()),
        ("source", pa_arrow.string()),
        ("period", pa_arrow.string()),
        ("period_end", pa_arrow.date32()),
        ("published_date", pa_arrow.date32()),
        ("source_path", pa_arrow.string()),
        ("source_row_number", pa_arrow.int64()),
        # The page or published document a row cites (a register's source page, an Ofsted
        # report), where there is one.
        ("source_url", pa_arrow.string()),
        ("run_id", pa_arrow.string()),
    ]
)


class Watchlist(pa.DataFrameModel):
    """One row per council in being at the as-of date."""

    quarter: str = pa.Field(str_matches=r"^\d{4}Q[1-4]$")
    council_code: str = pa.Field(str_matches=r"^E(06|07|08|09|10)\d{6}$")
    council_name: str
    rank: int = pa.Field(nullable=True, ge=1)
    known_case_rank: int = pa.Field(nullable=True, ge=1)
    risk_score: float = pa.Field(ge=0)
    baseline_score: float = pa.Field(ge=0)
    risk_band: str = pa.Field(isin=RISK_BANDS)
    known_case: bool
    coverage: float = pa.Field(ge=0, le=1)
    n_flags: int = pa.Field(ge=0)

    class Config:
        unique = ["quarter", "council_code"]  # noqa: RUF012 (pandera reads a plain list)

    @pa.dataframe_check(name="known cases have no main rank; others have one")
    def known_cases_ranked_apart(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                (pl.col("known_case") & pl.col("rank").is_null())
                | (~pl.col("known_case") & pl.col("rank").is_not_null())
            ).alias("ok")
        )

    @pa.dataframe_check(name="baseline score within the main score")
    def baseline_within(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("baseline_score") <= pl.col("risk_score") + 1e-9).alias("ok")
        )
