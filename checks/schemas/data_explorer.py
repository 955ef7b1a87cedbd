"""Local Authority Data Explorer metrics, any theme, in the Explorer's long layout."""

from datetime import date
from functools import cache
from pathlib import Path

import pandera.polars as pa
import polars as pl
import yaml

from checks.schemas.common import (
    COUNCIL_GSS,
    FINANCIAL_YEAR,
    LINEAGE,
    consistent_financial_year,
    financial_year_bounds,
    latest_financial_year_end,
    load_date,
)
from checks.validation import CouncilCodeRule, StagingSpec

METRICS_PATH = Path(__file__).resolve().parents[2] / "pipelines" / "metrics.yaml"


@cache
def metric_catalogue() -> pl.DataFrame:
    """Known metrics with unit, plausible range and polarity (pipelines/metrics.yaml)."""
    document = yaml.safe_load(METRICS_PATH.read_text(encoding="utf-8"))
    rows = [{"metric_id": key, **value} for key, value in document["metrics"].items()]
    return pl.DataFrame(
        rows,
        schema={
            "metric_id": pl.String,
            "name": pl.String,
            "theme": pl.String,
            "unit": pl.String,
            "min": pl.Float64,
            "max": pl.Float64,
            "polarity": pl.String,
        },
    )


class DataExplorerMetrics(pa.DataFrameModel):
    """One value per council, financial year and metric. A missing value is a state
    ('not reported'), never a number. A year cannot be later than the financial year after the
    one in which its file was loaded (a figure from the future is a typo, not data)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    year_start: int = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    period_end: date = pa.Field(nullable=True)
    load_date: date = pa.Field(nullable=True)
    metric_id: str = pa.Field(str_matches=r"^[A-Za-z0-9_.-]+$")
    metric_name: str = pa.Field(str_length={"min_value": 1})
    value: float = pa.Field(nullable=True)
    value_state: str = pa.Field(isin=["reported", "not reported"])
    metric_min: float = pa.Field(nullable=True)
    metric_max: float = pa.Field(nullable=True)

    class Config:
        unique = ["council_code", "financial_year", "metric_id"]

    @pa.dataframe_check(name="financial year names consecutive years")
    def year_consistent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(consistent_financial_year("financial_year").alias("ok"))

    @pa.check(
        "financial_year",
        name="period ends no later than 31 March of the financial year after the file's load",
    )
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        load = pl.col("load_date")
        return data.lazyframe.select(
            (
                load.is_null()
                | pl.col("period_end").is_null()
                | (pl.col("period_end") <= latest_financial_year_end(load))
            ).alias(data.key)
        )

    # A column check (it reads the metric's range too) so the quarantine names `value`.
    @pa.check("value", name="value within the metric's plausible range (pipelines/metrics.yaml)")
    def value_in_range(cls, data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col("value")
        return data.lazyframe.select(
            (
                value.is_null()
                | (
                    (pl.col("metric_min").is_null() | (value >= pl.col("metric_min")))
                    & (pl.col("metric_max").is_null() | (value <= pl.col("metric_max")))
                )
            ).alias(data.key)
        )


def _derive(frame: pl.DataFrame) -> pl.DataFrame:
    ranges = metric_catalogue().select(
        "metric_id", pl.col("min").alias("metric_min"), pl.col("max").alias("metric_max")
    )
    return frame.with_columns(
        *financial_year_bounds("financial_year"),
        load_date(),
        pl.when(pl.col("value").is_null())
        .then(pl.lit("not reported"))
        .otherwise(pl.lit("reported"))
        .alias("value_state"),
        pl.coalesce(pl.col("load_theme"), pl.lit("unspecified")).alias("theme"),
    ).join(ranges, on="metric_id", how="left")


DATA_EXPLORER_METRICS = StagingSpec(
    model=DataExplorerMetrics,
    parse={"value": pl.Float64},
    council_code=CouncilCodeRule(),
    derive=_derive,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "theme",
        "financial_year",
        "year_start",
        "period_end",
        "metric_id",
        "metric_name",
        "unit",
        "value",
        "value_state",
        "rank_order",
        "published_median",
        *LINEAGE,
    ],
)
