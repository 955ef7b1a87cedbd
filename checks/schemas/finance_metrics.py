"""Finance per council after 2017-18 (LA Analytics' compilation of the revenue and capital
outturn returns, £000) and core spending power (settlement tables, £ million).

Both feed the council-year finance series (sql/indicators/finance_years.sql) that the reserves
and debt indicators read."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, FINANCIAL_YEAR, LINEAGE, load_date
from checks.schemas.finance import MAX_PLAUSIBLE_THOUSANDS, PLAUSIBLE_BALANCE
from checks.validation import CouncilCodeRule, Scope, StagingSpec

# The compilation's classes for principal councils; police, fire, parks, waste, combined
# authorities and the GLA are out of scope.
PRINCIPAL_CLASSES = [
    "Shire District",
    "Unitary Authority",
    "Met District",
    "London",
    "Shire County",
]
# Balances and flows that can be negative in a real return: net revenue expenditure (a
# commercial district's income can exceed its spending), usable reserves (a dedicated schools
# grant deficit counts against them), MRP and interest (reversals and net interest received),
# CFR (a council with more set aside than borrowed), net external debt (investments > debt).
SIGNED = [
    "net_revenue_expenditure",
    "interest",
    "usable_reserves",
    "minimum_revenue_provision",
    "capital_financing_requirement",
    "net_external_debt",
]
# Stocks that cannot be negative: a negative loan is a typo, not a figure.
NOT_NEGATIVE = [
    "grants",
    "gross_borrowing",
    "other_long_term_liabilities",
    "external_debt",
    "investments",
    "short_term_loans",
    "loans",
]
# Borrowing limits a council sets itself: checked for sign only, since they are limits, not
# balances (one council's authorised limit is stated as over £20bn).
LIMITS = ["operational_boundary", "authorised_limit"]
FINANCE_MEASURES = [*SIGNED, *NOT_NEGATIVE, *LIMITS]
_YEAR_END = r"^(\d{4})03$"


class LaFinanceMetrics(pa.DataFrameModel):
    """One row per council and financial year, £000. `year_end` is YYYYMM of the year's last
    month (201903 = 2018-19). A figure the compilation marks #N/A, [x] or #VALUE! is "not
    reported" (empty, and named in `not_reported_columns`), never a number. A year that has
    not ended by the day the file was loaded is rejected."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    year_end: str = pa.Field(str_matches=_YEAR_END)
    period: str = pa.Field(str_matches=FINANCIAL_YEAR)
    year_start: int = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    period_end: date
    load_date: date = pa.Field(nullable=True)
    net_revenue_expenditure: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    interest: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    usable_reserves: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    minimum_revenue_provision: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    capital_financing_requirement: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    net_external_debt: float = pa.Field(nullable=True, in_range=PLAUSIBLE_BALANCE)
    grants: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    gross_borrowing: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    other_long_term_liabilities: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    external_debt: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    investments: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    short_term_loans: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    loans: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_THOUSANDS)
    operational_boundary: float = pa.Field(nullable=True, ge=0)
    authorised_limit: float = pa.Field(nullable=True, ge=0)

    class Config:
        unique = ["council_code", "period"]

    @pa.check("year_end", name="the year has ended by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("load_date").is_null()
                | pl.col("period_end").is_null()
                | (pl.col("period_end") <= pl.col("load_date"))
            ).alias(data.key)
        )


# Where a council's revenue outturn is missing (net revenue expenditure not reported), the
# compilation writes 0 for the other revenue figures of that row: those zeros are "not
# reported" too. A total of usable reserves of exactly 0 is never a real balance (a council
# must hold a general fund balance): it is read as "not reported" wherever it appears.
REVENUE_FIGURES = ["grants", "interest", "usable_reserves"]


def _zeros_not_reported(frame: pl.DataFrame) -> pl.DataFrame:
    listed = pl.col("not_reported_columns").fill_null("")
    revenue_missing = listed.str.contains("net_revenue_expenditure")
    zero = {
        c: (pl.col(c) == 0).fill_null(False)
        & (revenue_missing | pl.lit(c == "usable_reserves"))
        & ~listed.str.contains(c)
        for c in REVENUE_FIGURES
    }
    added = pl.concat_list(
        [pl.when(flag).then(pl.lit(c)).otherwise(pl.lit(None)) for c, flag in zero.items()]
    ).list.drop_nulls()
    combined = pl.concat_list(
        [listed.str.split(",").list.eval(pl.element().filter(pl.element() != "")), added]
    )
    return frame.with_columns(
        *[pl.when(flag).then(None).otherwise(pl.col(c)).alias(c) for c, flag in zero.items()],
        pl.when(combined.list.len() > 0)
        .then(combined.list.join(","))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("not_reported_columns"),
    )


def _derive_metrics(frame: pl.DataFrame) -> pl.DataFrame:
    end_year = pl.col("year_end").str.extract(_YEAR_END, 1).cast(pl.Int64, strict=False)
    start = end_year - 1
    if "not_reported_columns" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("not_reported_columns"))
    frame = _zeros_not_reported(frame)
    return frame.with_columns(
        pl.format("{}-{}", start, (end_year % 100).cast(pl.String).str.zfill(2)).alias("period"),
        start.alias("year_start"),
        pl.date(end_year, 3, 31).alias("period_end"),
        pl.col("load_published").alias("published_date"),
        load_date(),
    )


LA_FINANCE_METRICS = StagingSpec(
    model=LaFinanceMetrics,
    scope=Scope(
        keep=pl.col("authority_class").str.strip_chars().is_in(PRINCIPAL_CLASSES),
        reason="not a principal council (police, fire, park, waste, combined authority or GLA)",
    ),
    parse={c: pl.Float64 for c in FINANCE_MEASURES},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_metrics,
    not_reported_markers=("#N/A", "[x]", "#VALUE!"),
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "ecode",
        "council_name",
        "authority_class",
        "year_end",
        "period",
        "year_start",
        "period_end",
        "published_date",
        *FINANCE_MEASURES,
        "not_reported_columns",
        *LINEAGE,
    ],
)

CSP_COMPONENTS = [
    "settlement_funding_assessment",
    "under_indexation",
    "council_tax",
    "new_homes_bonus",
    "new_homes_bonus_returned",
    "rural_services_delivery_grant",
    "core_spending_power",
]
# The largest council's core spending power is about £1.2bn: past £5bn the file is not in £m.
MAX_PLAUSIBLE_MILLIONS = 5_000.0


class CoreSpendingPower(pa.DataFrameModel):
    """One row per council and financial year, £ million as published, plus the total in £000
    (`core_spending_power_thousands`) to set beside outturn figures. Known at the settlement,
    before the year starts: `published_date` is 1 March of the year's first calendar year.
    The compilation leaves out some social care grants, so upper-tier totals are low."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    year: int = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    period: str = pa.Field(str_matches=FINANCIAL_YEAR)
    settlement_funding_assessment: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    under_indexation: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    council_tax: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    new_homes_bonus: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    new_homes_bonus_returned: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    rural_services_delivery_grant: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    core_spending_power: float = pa.Field(nullable=True, ge=0, le=MAX_PLAUSIBLE_MILLIONS)
    published_date: date
    load_date: date = pa.Field(nullable=True)

    class Config:
        unique = ["council_code", "year"]

    @pa.check("year", name="set by a settlement made by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("load_date").is_null() | (pl.col("published_date") <= pl.col("load_date"))
            ).alias(data.key)
        )


def _derive_csp(frame: pl.DataFrame) -> pl.DataFrame:
    year = pl.col("year")
    return frame.with_columns(
        pl.format("{}-{}", year, ((year + 1) % 100).cast(pl.String).str.zfill(2)).alias("period"),
        year.alias("year_start"),
        pl.date(year + 1, 3, 31).alias("period_end"),
        # The final settlement is approved in February, before the year starts.
        pl.date(year, 3, 1).alias("published_date"),
        (pl.col("core_spending_power") * 1000).alias("core_spending_power_thousands"),
        load_date(),
    )


CORE_SPENDING_POWER = StagingSpec(
    model=CoreSpendingPower,
    parse={"year": pl.Int64, **{c: pl.Float64 for c in CSP_COMPONENTS}},
    council_code=CouncilCodeRule(),
    derive=_derive_csp,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "region",
        "year",
        "period",
        "year_start",
        "period_end",
        "published_date",
        *CSP_COMPONENTS,
        "core_spending_power_thousands",
        *LINEAGE,
    ],
)
