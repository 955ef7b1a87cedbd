"""Patterns and columns every source schema shares."""

import polars as pl

COUNCIL_GSS = r"^E(06|07|08|09|10)\d{6}$"
ANY_GSS = r"^[ENSWK]\d{8}$"
FINANCIAL_YEAR = r"^\d{4}-\d{2}$"
URL = r"^https?://\S+$"
ENGLISH_REGIONS = [
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
]
# Every validated table keeps the lineage of each row back to its raw record.
LINEAGE = ["load_id", "source_path", "source_row_number", "source_column"]


def financial_year_bounds(column: str) -> list[pl.Expr]:
    """`2016-17` -> year_start 2016, period_end 2017-03-31 (the year's last day)."""
    start = pl.col(column).str.slice(0, 4).cast(pl.Int64, strict=False)
    return [
        start.alias("year_start"),
        pl.date(start + 1, 3, 31).alias("period_end"),
    ]


def load_date() -> pl.Expr:
    """The day the row's file was landed in the raw layer (null where it is not known)."""
    return pl.col("loaded_at").cast(pl.Date).alias("load_date")


def latest_financial_year_end(load: pl.Expr) -> pl.Expr:
    """31 March of the financial year after the one containing `load`: the latest period end a
    file loaded that day can hold (budget-based figures, such as council tax levels, are
    published before their year starts; nothing is published for the year after that)."""
    fy_start = pl.when(load.dt.month() >= 4).then(load.dt.year()).otherwise(load.dt.year() - 1)
    return pl.date(fy_start + 2, 3, 31)


def consistent_financial_year(column: str) -> pl.Expr:
    """True where `YYYY-YY` names consecutive years (2016-17, not 2016-19)."""
    start = pl.col(column).str.slice(0, 4).cast(pl.Int64, strict=False)
    end = pl.col(column).str.slice(5, 2).cast(pl.Int64, strict=False)
    return pl.col(column).is_null() | ((start + 1) % 100 == end)
