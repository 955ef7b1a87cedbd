"""Finance returns: Revenue Outturn summary (reserves, net revenue expenditure) and council
tax receipts. Both are in £ thousands."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import (
    COUNCIL_GSS,
    FINANCIAL_YEAR,
    LINEAGE,
    financial_year_bounds,
    load_date,
)
from checks.validation import CouncilCodeRule, Scope, StagingSpec

PRINCIPAL_COUNCIL_CLASSES = ["L", "MD", "UA", "SC", "SD"]
# The largest English council spends about £3bn a year: a figure past £5bn in a £000 column is
# far more likely a file in pounds than a real value.
MAX_PLAUSIBLE_THOUSANDS = 5_000_000
PLAUSIBLE_BALANCE = {"min_value": -MAX_PLAUSIBLE_THOUSANDS, "max_value": MAX_PLAUSIBLE_THOUSANDS}

RESERVE_COLUMNS = [
    f"{kind}_reserves_{when}"
    for kind in ("schools", "public_health", "earmarked", "unallocated")
    for when in ("start", "end")
]


class RevenueOutturn(pa.DataFrameModel):
    """One row per council and financial year, £000. An outturn reports a year that has
    ended: a period ending after the day its file was loaded is rejected."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    period: str = pa.Field(str_matches=FINANCIAL_YEAR)
    period_end: date = pa.Field(nullable=True)
    load_date: date = pa.Field(nullable=True)
    net_revenue_expenditure: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    # Schools and public health balances can be deficits (a dedicated schools grant deficit is
    # reported as a negative schools reserve), so only their size is checked.
    schools_reserves_start: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    schools_reserves_end: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    public_health_reserves_start: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    public_health_reserves_end: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    earmarked_reserves_start: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    earmarked_reserves_end: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    unallocated_reserves_start: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    unallocated_reserves_end: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)

    class Config:
        unique = ["council_code", "period"]

    @pa.check("period", name="the year has ended by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("load_date").is_null()
                | pl.col("period_end").is_null()
                | (pl.col("period_end") <= pl.col("load_date"))
            ).alias(data.key)
        )


def _derive_outturn(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("load_period").alias("period"),
        *financial_year_bounds("load_period"),
        pl.col("load_published").alias("published_date"),
        load_date(),
    )


REVENUE_OUTTURN = StagingSpec(
    model=RevenueOutturn,
    scope=Scope(
        keep=pl.col("authority_class").is_in(PRINCIPAL_COUNCIL_CLASSES),
        reason="not a principal council (police, fire, parks, transport or GLA body)",
    ),
    parse={"net_revenue_expenditure": pl.Float64, **{c: pl.Float64 for c in RESERVE_COLUMNS}},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_outturn,
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "council_name",
        "authority_class",
        "period",
        "year_start",
        "period_end",
        "published_date",
        "net_revenue_expenditure",
        *RESERVE_COLUMNS,
        *LINEAGE,
    ],
)

_QUARTER = (
    r"^(April to June|July to September|October to December|January to March) (\d{4}) \(Q([1-4])\)$"
)
_FIRST_MONTH = {
    "April to June": 4,
    "July to September": 7,
    "October to December": 10,
    "January to March": 1,
}


class CouncilTaxReceipts(pa.DataFrameModel):
    """Council tax received by a billing council in one quarter, £000."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    quarter_start: date
    quarter_end: date
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    fiscal_quarter: int = pa.Field(isin=[1, 2, 3, 4])
    receipts: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)

    class Config:
        unique = ["council_code", "quarter_start"]


def _derive_receipts(frame: pl.DataFrame) -> pl.DataFrame:
    label = pl.col("quarter_label").str.strip_chars()
    months = label.str.extract(_QUARTER, 1)
    year = label.str.extract(_QUARTER, 2).cast(pl.Int64)
    fiscal_quarter = label.str.extract(_QUARTER, 3).cast(pl.Int64)
    first_month = months.replace_strict(_FIRST_MONTH, default=None, return_dtype=pl.Int64)
    start = pl.date(year, first_month, 1)
    fy_start = pl.when(first_month >= 4).then(year).otherwise(year - 1)
    return frame.with_columns(
        start.alias("quarter_start"),
        start.dt.offset_by("3mo").dt.offset_by("-1d").alias("quarter_end"),
        pl.format("{}-{}", fy_start, ((fy_start + 1) % 100).cast(pl.String).str.zfill(2)).alias(
            "financial_year"
        ),
        fiscal_quarter.alias("fiscal_quarter"),
        # The edition's date; each quarter's figure was first public long before it.
        pl.col("load_published").alias("edition_published"),
    )


COUNCIL_TAX_RECEIPTS = StagingSpec(
    model=CouncilTaxReceipts,
    scope=Scope(
        keep=pl.col("authority_class").is_in(PRINCIPAL_COUNCIL_CLASSES),
        reason="not a billing council (England or regional total)",
    ),
    parse={"receipts": pl.Float64},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_receipts,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "quarter_label",
        "quarter_start",
        "quarter_end",
        "financial_year",
        "fiscal_quarter",
        "edition_published",
        "receipts",
        *LINEAGE,
    ],
)
