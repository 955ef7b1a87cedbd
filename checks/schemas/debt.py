"""Debt: the department's Borrowing and Investment live tables (stock at a date, £000) and the
capital outturn prudential indicators (£ million, names only)."""

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
from checks.schemas.finance import MAX_PLAUSIBLE_THOUSANDS
from checks.validation import CouncilCodeRule, Scope, StagingSpec, Supersede

# Borrowing by lender, in the live table's column order (sources.yaml maps each to its header).
SHORT_TERM_LENDERS = [
    "short_term_banks",
    "short_term_building_societies",
    "short_term_other_financial_intermediaries",
    "short_term_public_corporations",
    "short_term_private_corporations",
    "short_term_central_government",
    "short_term_households",
    "short_term_other",
]
SECURITIES = ["bonds_and_commercial_paper", "other_stock_issues"]
LONGER_TERM_LENDERS = [
    "pwlb",
    "longer_term_banks",
    "longer_term_building_societies",
    "longer_term_other_financial_intermediaries",
    "longer_term_public_corporations",
    "longer_term_private_corporations",
    "longer_term_central_government",
    "longer_term_households",
    "longer_term_other",
]
LOCAL_AUTHORITY_LENDERS = ["short_term_local_authorities", "longer_term_local_authorities"]
BORROWING_COLUMNS = SHORT_TERM_LENDERS + SECURITIES + LONGER_TERM_LENDERS + LOCAL_AUTHORITY_LENDERS
BORROWING_TOTALS = ["gross_borrowing", "short_term_borrowing", "borrowing_from_other_councils"]

INVESTMENT_COLUMNS = [
    "deposits_banks",
    "deposits_building_societies",
    "certificates_of_deposit_banks",
    "certificates_of_deposit_building_societies",
    "treasury_bills",
    "gilts",
    "debt_management_account",
    "money_market_funds",
    "externally_managed_funds",
    "other_financial_intermediaries",
    "public_corporations",
    "other_investments",
    "loans_to_local_government",
]

# Classes and names of bodies the live tables hold besides principal councils. The class column
# is missing from the oldest tabs and swapped with the country column in some others, so names
# are checked too.
NON_COUNCIL_CLASSES = [
    "OTHER", "GLA", "PCC", "CFA", "FIRE", "PARK", "WASTE", "TRA", "MET", "ID", "SCD", "COMFIR",
]  # fmt: skip
NON_COUNCIL_NAME = (
    r"(?i)police|fire|national park|broads|\bauthority\b|transport|waste|commissioner|combined"
    r"|pension|magistrates|probation|crime|rescue|passenger|executive"
    r"|development (corporation|agency)"
    r"|greater london|^england|^united kingdom"
)
_ECODE = r"^\s*E\d{4,6}\s*$"  # real E-codes have 4 digits; fictional ones more
_COUNCIL_GSS_PREFIX = r"^\s*E(06|07|08|09|10)"

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
# "as at 31 March 2020", "as at 31st December 2016", "as at end March 2019"
_AS_AT = r"(?i)as at (?:end )?(?:\d{1,2}(?:st|nd|rd|th)? )?([a-z]+),? (\d{4})"


def _english_council_row() -> pl.Expr:
    ons = pl.col("council_code").str.strip_chars()
    cls = pl.col("authority_class").str.strip_chars().str.to_uppercase()
    return (
        pl.col("ecode").str.contains(_ECODE)
        & (ons.is_null() | (ons == "") | ons.str.contains(_COUNCIL_GSS_PREFIX))
        & (cls.is_null() | ~cls.is_in(NON_COUNCIL_CLASSES))
        & ~pl.col("council_name").fill_null("").str.contains(NON_COUNCIL_NAME)
    )


LIVE_TABLE_SCOPE = Scope(
    keep=_english_council_row(),
    reason="not an English principal council: a UK or country total, a footnote, a body in "
    "Scotland, Wales or Northern Ireland, or a police, fire, park, transport or other authority",
)


def _stock_date(frame: pl.DataFrame) -> pl.DataFrame:
    """The date the tab's figures stand at, read from its title line; its financial year and
    quarter; and the edition (the latest date any tab of the same file stands at)."""
    month = (
        pl.col("sheet_title")
        .str.extract(_AS_AT, 1)
        .str.to_lowercase()
        .replace_strict(_MONTHS, default=None, return_dtype=pl.Int64)
    )
    year = pl.col("sheet_title").str.extract(_AS_AT, 2).cast(pl.Int64, strict=False)
    fy_start = pl.when(month >= 4).then(year).otherwise(year - 1)
    return frame.with_columns(
        pl.date(year, month, 1).dt.month_end().alias("period_end"),
        pl.format("{}-{}", fy_start, ((fy_start + 1) % 100).cast(pl.String).str.zfill(2)).alias(
            "financial_year"
        ),
        (((month + 8) % 12) // 3 + 1).alias("fiscal_quarter"),
        load_date(),
    ).with_columns(pl.col("period_end").max().over("load_id").alias("edition_period_end"))


def _total(columns: list[str]) -> pl.Expr:
    """The sum of the columns; null when none of them has a figure (not 0)."""
    return (
        pl.when(pl.any_horizontal(pl.col(c).is_not_null() for c in columns))
        .then(pl.sum_horizontal(columns))
        .otherwise(None)
    )


def _derive_borrowing(frame: pl.DataFrame) -> pl.DataFrame:
    return _stock_date(frame).with_columns(
        _total(BORROWING_COLUMNS).alias("gross_borrowing"),
        _total([*SHORT_TERM_LENDERS, "short_term_local_authorities"]).alias("short_term_borrowing"),
        _total(LOCAL_AUTHORITY_LENDERS).alias("borrowing_from_other_councils"),
    )


def _derive_investments(frame: pl.DataFrame) -> pl.DataFrame:
    return _stock_date(frame).with_columns(_total(INVESTMENT_COLUMNS).alias("total_investments"))


PLAUSIBLE_STOCK = {"nullable": True, "ge": 0, "le": MAX_PLAUSIBLE_THOUSANDS * 4}


class _StockAtDate(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    period_end: date
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    fiscal_quarter: int = pa.Field(isin=[1, 2, 3, 4])
    load_date: date = pa.Field(nullable=True)

    class Config:
        unique = ["council_code", "period_end"]


PASSED_BY_LOAD = "the date has passed by the day the file was loaded"


def _passed_by_load(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        (pl.col("load_date").is_null() | (pl.col(data.key) <= pl.col("load_date"))).alias(data.key)
    )


class BorrowingLiveTable(_StockAtDate):
    """Outstanding borrowing of one council at one date, by lender, £000 (stock at the date).
    Debt is never negative; a figure past £20bn is more likely a file in pounds than debt."""

    short_term_banks: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_building_societies: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_other_financial_intermediaries: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_public_corporations: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_private_corporations: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_central_government: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_households: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_other: float = pa.Field(**PLAUSIBLE_STOCK)
    bonds_and_commercial_paper: float = pa.Field(**PLAUSIBLE_STOCK)
    other_stock_issues: float = pa.Field(**PLAUSIBLE_STOCK)
    pwlb: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_banks: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_building_societies: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_other_financial_intermediaries: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_public_corporations: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_private_corporations: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_central_government: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_households: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_other: float = pa.Field(**PLAUSIBLE_STOCK)
    short_term_local_authorities: float = pa.Field(**PLAUSIBLE_STOCK)
    longer_term_local_authorities: float = pa.Field(**PLAUSIBLE_STOCK)
    gross_borrowing: float = pa.Field(**PLAUSIBLE_STOCK)

    @pa.check("period_end", name=PASSED_BY_LOAD)
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _passed_by_load(data)


class InvestmentsLiveTable(_StockAtDate):
    """Outstanding investments of one council at one date, by counterparty, £000."""

    deposits_banks: float = pa.Field(**PLAUSIBLE_STOCK)
    deposits_building_societies: float = pa.Field(**PLAUSIBLE_STOCK)
    certificates_of_deposit_banks: float = pa.Field(**PLAUSIBLE_STOCK)
    certificates_of_deposit_building_societies: float = pa.Field(**PLAUSIBLE_STOCK)
    treasury_bills: float = pa.Field(**PLAUSIBLE_STOCK)
    gilts: float = pa.Field(**PLAUSIBLE_STOCK)
    debt_management_account: float = pa.Field(**PLAUSIBLE_STOCK)
    money_market_funds: float = pa.Field(**PLAUSIBLE_STOCK)
    externally_managed_funds: float = pa.Field(**PLAUSIBLE_STOCK)
    other_financial_intermediaries: float = pa.Field(**PLAUSIBLE_STOCK)
    public_corporations: float = pa.Field(**PLAUSIBLE_STOCK)
    other_investments: float = pa.Field(**PLAUSIBLE_STOCK)
    loans_to_local_government: float = pa.Field(**PLAUSIBLE_STOCK)
    total_investments: float = pa.Field(**PLAUSIBLE_STOCK)

    @pa.check("period_end", name=PASSED_BY_LOAD)
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _passed_by_load(data)


_NEWER_EDITION = Supersede(
    key=("council_code", "period_end"),
    edition="edition_period_end",
    reason="a newer edition of the live table states this council and date again; its "
    "figures are used (this older row stays in raw)",
)
_LIVE_TABLE_COLUMNS = [
    "council_code",
    "source_council_code",
    "code_resolved_by",
    "ecode",
    "council_name",
    "sheet_name",
    "carried_forward_flag",
    "financial_year",
    "fiscal_quarter",
    "period_end",
    "edition_period_end",
]

BORROWING_LIVE_TABLE = StagingSpec(
    model=BorrowingLiveTable,
    scope=LIVE_TABLE_SCOPE,
    parse={c: pl.Float64 for c in BORROWING_COLUMNS},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_borrowing,
    supersede=_NEWER_EDITION,
    output_columns=[
        *_LIVE_TABLE_COLUMNS,
        *BORROWING_COLUMNS,
        *BORROWING_TOTALS,
        *LINEAGE,
    ],
)

INVESTMENTS_LIVE_TABLE = StagingSpec(
    model=InvestmentsLiveTable,
    scope=LIVE_TABLE_SCOPE,
    parse={c: pl.Float64 for c in INVESTMENT_COLUMNS},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_investments,
    supersede=_NEWER_EDITION,
    output_columns=[
        *_LIVE_TABLE_COLUMNS,
        *INVESTMENT_COLUMNS,
        "total_investments",
        *LINEAGE,
    ],
)


# Prudential indicators: the Variable text -> a column-friendly measure name.
PRUDENTIAL_MEASURES = {
    "CFR, 1 April": "cfr_start",
    "CFR, 31 March": "cfr_end",
    "Gross debt, 1 April": "gross_debt_start",
    "Gross debt, 31 March": "gross_debt_end",
    "Other long-term liabilities, 1 April": "other_long_term_liabilities_start",
    "Other long-term liabilities, 31 March": "other_long_term_liabilities_end",
    "Investments, 1 April": "investments_start",
    "Investments, 31 March": "investments_end",
    "Minimum Revenue Provision": "mrp",
    "Authorised limit for external debt, 1 April": "authorised_limit_start",
    "Authorised limit for external debt, 31 March": "authorised_limit_end",
    "Operational boundary for external debt, 1 April": "operational_boundary_start",
    "Operational boundary for external debt, 31 March": "operational_boundary_end",
}
# A value more than this many times the year before and the year after (or less than their
# fraction), with those two within this factor of each other, is a one-year spike or dip:
# most likely a keying or unit error, so it is not used.
SPIKE_FACTOR = 5.0

PRUDENTIAL_SCOPE = (
    Scope(
        keep=~pl.col("council_name")
        .fill_null("")
        .str.contains(NON_COUNCIL_NAME + r"|^England_|_adjustment$"),
        reason="not a principal council: an England total or adjustment, or a police, fire, "
        "park, transport, waste or combined authority",
    ),
    # The wide file has a column for every year on every line: most lines cover only some.
    Scope(
        keep=pl.col("value_millions").str.strip_chars().fill_null("") != "",
        reason="no figure in this cell (the line does not cover the year)",
    ),
)


def _derive_prudential(frame: pl.DataFrame) -> pl.DataFrame:
    series = ["council_code", "variable", "basis"]
    value = pl.col("value_millions")
    framed = frame.with_columns(
        *financial_year_bounds("financial_year"),
        load_date(),
        pl.col("variable")
        .str.strip_chars()
        .replace_strict(PRUDENTIAL_MEASURES, default=None, return_dtype=pl.String)
        .alias("measure"),
        (pl.col("basis").str.strip_chars() == "Budget").alias("is_forecast"),
        (value * 1000).alias("value_thousands"),
    ).sort([*series, "year_start"])
    prev = value.shift(1).over(series)
    nxt = value.shift(-1).over(series)
    f = SPIKE_FACTOR
    # Only amounts held at a date: flows (use of borrowing, MRP) legitimately jump for a year.
    is_stock = pl.col("measure").is_not_null() & (pl.col("measure") != "mrp")
    spike = (
        is_stock
        & (value > 0)
        & (prev > 0)
        & (nxt > 0)
        & ((prev / nxt).is_between(1 / f, f))
        & (((value > f * prev) & (value > f * nxt)) | ((value * f < prev) & (value * f < nxt)))
    )
    return framed.with_columns(
        prev.alias("previous_year_value_millions"),
        nxt.alias("next_year_value_millions"),
        spike.fill_null(False).alias("one_year_spike"),
    )


class PrudentialIndicators(pa.DataFrameModel):
    """One prudential indicator of one council for one financial year, outturn or budget
    (forecast), as the capital outturn series states it in £ million, with £000 beside it."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    variable: str
    basis: str = pa.Field(isin=["Outturn", "Budget"])
    units: str = pa.Field(isin=["GPBmillions"])
    value_millions: float = pa.Field(nullable=True)
    period_end: date
    load_date: date = pa.Field(nullable=True)

    class Config:
        unique = ["council_code", "financial_year", "variable", "basis"]

    @pa.check("value_millions", name="not a one-year spike or dip of more than fivefold")
    def no_one_year_spike(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((~pl.col("one_year_spike")).alias(data.key))

    # A capital financing requirement can be negative (more set aside than borrowed for), so
    # only debt and investments, which are amounts held, are checked.
    @pa.check("value_millions", name="gross debt and investments are not negative")
    def stocks_not_negative(cls, data: pa.PolarsData) -> pl.LazyFrame:
        stock = pl.col("measure").is_in(
            ["gross_debt_start", "gross_debt_end", "investments_start", "investments_end"]
        )
        return data.lazyframe.select(
            (pl.col(data.key).is_null() | ~stock.fill_null(False) | (pl.col(data.key) >= 0)).alias(
                data.key
            )
        )

    @pa.check("financial_year", name="an outturn year has ended by the day the file was loaded")
    def outturn_not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                (pl.col("basis") == "Budget")
                | pl.col("load_date").is_null()
                | (pl.col("period_end") <= pl.col("load_date"))
            ).alias(data.key)
        )


PRUDENTIAL_INDICATORS = StagingSpec(
    model=PrudentialIndicators,
    scope=PRUDENTIAL_SCOPE,
    parse={"value_millions": pl.Float64},
    # The series names councils; a name two councils have borne (Somerset, North Yorkshire)
    # means the one in being at the end of the row's financial year.
    council_code=CouncilCodeRule(
        column="council_name",
        via="name",
        on_date=pl.date(
            pl.col("financial_year").str.slice(0, 4).cast(pl.Int32, strict=False) + 1, 3, 31
        ),
        extra_name_map_sql="staging/capital_outturn_name_code_map",
        name_map_needs=("capital_outturn_name_lookup",),
    ),
    derive=_derive_prudential,
    output_columns=[
        "council_code",
        "council_name",
        "financial_year",
        "year_start",
        "period_end",
        "variable",
        "measure",
        "variable_type",
        "basis",
        "is_forecast",
        "units",
        "value_millions",
        "value_thousands",
        *LINEAGE,
    ],
)


class CapitalOutturnNameLookup(pa.DataFrameModel):
    """A council name as the capital outturn series spells it -> its standard name."""

    original_name: str = pa.Field(str_length={"min_value": 1})
    continuity_name: str = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["original_name"]


CAPITAL_OUTTURN_NAME_LOOKUP = StagingSpec(
    model=CapitalOutturnNameLookup,
    output_columns=["original_name", "continuity_name", *LINEAGE],
)


# ---- Capital Outturn / Capital Estimates Returns part C (£000, LGF and ONS codes) --------------

# Classes of principal councils in COR/CER (London boroughs are "L" in 2017-18, "LB" after).
CAPITAL_RETURN_COUNCIL_CLASSES = ["SD", "UA", "MD", "SC", "L", "LB"]
CAPITAL_RETURN_SCOPE = Scope(
    keep=pl.col("authority_class").str.strip_chars().is_in(CAPITAL_RETURN_COUNCIL_CLASSES),
    reason="not a principal council (police, fire, park, combined, waste or GLA body)",
)


def _derive_capital_return(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("load_period").alias("period"),
        *financial_year_bounds("load_period"),
        (pl.col("load_theme") == "forecast").alias("is_forecast"),
        pl.col("load_theme").alias("basis"),
        load_date(),
    )


class _CapitalReturn(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    period: str = pa.Field(str_matches=FINANCIAL_YEAR)
    period_end: date
    basis: str = pa.Field(isin=["outturn", "forecast"])
    load_date: date = pa.Field(nullable=True)

    class Config:
        unique = ["council_code", "period", "basis"]


OUTTURN_ENDED = "an outturn year has ended by the day the file was loaded"


def _outturn_ended(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        (
            pl.col("is_forecast")
            | pl.col("load_date").is_null()
            | (pl.col("period_end") <= pl.col("load_date"))
        ).alias(data.key)
    )


PLAUSIBLE_SIGNED = {"nullable": True, "in_range": {
    "min_value": -MAX_PLAUSIBLE_THOUSANDS * 4, "max_value": MAX_PLAUSIBLE_THOUSANDS * 4
}}  # fmt: skip


class CapitalOutturnCfr(_CapitalReturn):
    """A council's capital financing requirement at the start and end of a year and its MRP,
    £000, outturn (COR) or the council's forecast (CER). A CFR can be negative."""

    cfr_start: float = pa.Field(**PLAUSIBLE_SIGNED)
    cfr_end: float = pa.Field(**PLAUSIBLE_SIGNED)
    mrp: float = pa.Field(**PLAUSIBLE_SIGNED)

    @pa.check("period", name=OUTTURN_ENDED)
    def outturn_not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _outturn_ended(data)


class CapitalOutturnBorrowing(_CapitalReturn):
    """A council's gross borrowing, other long-term liabilities and investments at the start
    and end of a year, £000, outturn (COR) or forecast (CER). Amounts held are never negative;
    net external debt can be."""

    gross_borrowing_start: float = pa.Field(**PLAUSIBLE_STOCK)
    gross_borrowing_end: float = pa.Field(**PLAUSIBLE_STOCK)
    other_long_term_liabilities_start: float = pa.Field(**PLAUSIBLE_STOCK)
    other_long_term_liabilities_end: float = pa.Field(**PLAUSIBLE_STOCK)
    investments_start: float = pa.Field(**PLAUSIBLE_STOCK)
    investments_end: float = pa.Field(**PLAUSIBLE_STOCK)
    net_external_debt_end: float = pa.Field(**PLAUSIBLE_SIGNED)
    authorised_limit_end: float = pa.Field(**PLAUSIBLE_STOCK)

    @pa.check("period", name=OUTTURN_ENDED)
    def outturn_not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _outturn_ended(data)


CFR_COLUMNS = ["cfr_start", "cfr_end", "mrp"]
CAPITAL_BORROWING_COLUMNS = [
    "gross_borrowing_start",
    "gross_borrowing_end",
    "other_long_term_liabilities_start",
    "other_long_term_liabilities_end",
    "investments_start",
    "investments_end",
    "net_external_debt_end",
    "authorised_limit_end",
]
_CAPITAL_RETURN_COLUMNS = [
    "council_code",
    "source_council_code",
    "code_resolved_by",
    "ecode",
    "council_name",
    "authority_class",
    "period",
    "year_start",
    "period_end",
    "basis",
    "is_forecast",
]

CAPITAL_OUTTURN_CFR = StagingSpec(
    model=CapitalOutturnCfr,
    scope=CAPITAL_RETURN_SCOPE,
    parse={c: pl.Float64 for c in CFR_COLUMNS},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_capital_return,
    output_columns=[*_CAPITAL_RETURN_COLUMNS, *CFR_COLUMNS, *LINEAGE],
)

CAPITAL_OUTTURN_BORROWING = StagingSpec(
    model=CapitalOutturnBorrowing,
    scope=CAPITAL_RETURN_SCOPE,
    parse={c: pl.Float64 for c in CAPITAL_BORROWING_COLUMNS},
    council_code=CouncilCodeRule(fallback_column="ecode"),
    derive=_derive_capital_return,
    output_columns=[*_CAPITAL_RETURN_COLUMNS, *CAPITAL_BORROWING_COLUMNS, *LINEAGE],
)
