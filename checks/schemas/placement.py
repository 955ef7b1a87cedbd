"""Dates as registers state them: a placed date and its precision.

A register row transcribed from a web page gives its date as the page did ("2023-01",
"2020/21 (AAR to committee 20 Oct 2022)", "9 September (year not stated)"). The analyst places
it: the date, and how precisely it is known (day, month, year), with the stated text kept
beside it. A month or a year is placed at its last day, the first day the fact was certainly
public. A date that cannot be placed in time stays in the register with precision
`unplaceable` and no date, and is never used point in time.
"""

import polars as pl

PRECISIONS = ["day", "month", "year", "unplaceable"]
UNPLACEABLE = "unplaceable"
# Several financial years in one cell ("2021-22;2022-23"): one finding about each.
FINANCIAL_YEARS = r"^\d{4}-\d{2}(;\d{4}-\d{2})*$"


def with_precision(date_column: str) -> pl.Expr:
    """The stated precision (lower case); a register from before precision was recorded gave
    full dates, so a row with a date and no precision is precise to the day."""
    stated = pl.col("date_precision").str.strip_chars().str.to_lowercase()
    stated = pl.when(stated == "").then(None).otherwise(stated)
    return (
        pl.when(stated.is_null() & pl.col(date_column).is_not_null())
        .then(pl.lit("day"))
        .otherwise(stated)
        .alias("date_precision")
    )


def ensure_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Optional columns a register file may not have, as empty text."""
    missing = [c for c in columns if c not in frame.columns]
    return frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])


def load_date() -> pl.Expr:
    """The day the row's file was loaded: no register row can be dated after it."""
    if_loaded = pl.col("loaded_at").cast(pl.Date, strict=False)
    return if_loaded.alias("load_date")


def placed_consistently(date_column: str) -> pl.Expr:
    """A date exactly when the precision says it was placed (day, month or year)."""
    unplaceable = pl.col("date_precision") == UNPLACEABLE
    return (unplaceable & pl.col(date_column).is_null()) | (
        ~unplaceable & pl.col(date_column).is_not_null()
    )


def not_after_load(date_column: str) -> pl.Expr:
    """Not dated after the day the file was loaded: a future date is a typing error."""
    return (
        pl.col(date_column).is_null()
        | pl.col("load_date").is_null()
        | (pl.col(date_column) <= pl.col("load_date"))
    )
