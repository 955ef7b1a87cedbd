"""Known cases: councils that have already told government, or been told, they are in trouble.

The shipped registers are compiled from public lists and each row cites its source; their
dates are as the sources state them, never filled in by guesswork.
"""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import (
    COUNCIL_GSS,
    FINANCIAL_YEAR,
    LINEAGE,
    URL,
    consistent_financial_year,
)
from checks.schemas.placement import (
    PRECISIONS,
    UNPLACEABLE,
    ensure_columns,
    load_date,
    not_after_load,
    placed_consistently,
    with_precision,
)
from checks.validation import CouncilCodeRule, Scope, StagingSpec

# Registers transcribed from web pages name the council rather than code it.
BY_CODE_OR_NAME = CouncilCodeRule(fallback_column="council_name", fallback_via="name")
NOT_A_COUNCIL = Scope(
    keep=~pl.col("council_name").fill_null("").str.contains(r"(?i)combined authority"),
    reason="not a council (a combined authority): kept out of the council registers",
)


class Section114Notices(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    notice_date: date
    date_precision: str = pa.Field(isin=["day", "month", "year"])
    notice_number: int = pa.Field(nullable=True, ge=1)
    source: str = pa.Field(str_length={"min_value": 3})

    class Config:
        unique = ["council_code", "notice_date"]


SECTION114_NOTICES = StagingSpec(
    model=Section114Notices,
    parse={"notice_date": pl.Date, "notice_number": pl.Int64},
    council_code=CouncilCodeRule(),
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "notice_date",
        "date_precision",
        "notice_number",
        "note",
        "source",
        "source_quality",
        *LINEAGE,
    ],
)

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}


def stated_start(text: str | None) -> tuple[date | None, str | None]:
    """The start date a free-text period states, if it states one.

    Only a period that opens with a date (`2024-02 to ...`) or says `from <date>` counts;
    any other date in the text (an end date, a letter's date) is not a start.
    Returns the date and its precision (day or month); a stated start that is no calendar
    date (`2024-13`, `2023-02-30`) returns no date and the precision "impossible", so the row is
    quarantined rather than read as having no stated start.
    """
    import re

    if not text:
        return None, None
    lowered = text.strip().lower()
    iso = r"(\d{4})-(\d{2})(?:-(\d{2}))?"
    named = r"(" + "|".join(_MONTHS) + r") (\d{4})"
    for prefix in (r"^", r"\bfrom "):
        match = re.search(prefix + iso, lowered)
        if match:
            year, month, day = match.group(1), match.group(2), match.group(3)
            try:
                start = date(int(year), int(month), int(day or 1))
            except ValueError:
                return None, "impossible"
            return start, "day" if day else "month"
        match = re.search(prefix + named, lowered)
        if match:
            return date(int(match.group(2)), _MONTHS[match.group(1)], 1), "month"
    return None, None


class Interventions(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    intervention: str = pa.Field(str_length={"min_value": 3})
    date_or_period: str = pa.Field(nullable=True)
    start_date: date = pa.Field(nullable=True)
    start_date_precision: str = pa.Field(nullable=True)
    start_date_state: str = pa.Field(isin=["stated", "not stated"])
    end_date: date = pa.Field(nullable=True)
    source: str = pa.Field(str_length={"min_value": 3})
    source_url: str = pa.Field(nullable=True, str_matches=URL)

    class Config:
        unique = ["council_code", "intervention", "date_or_period"]

    @pa.check(
        "date_or_period",
        name="a start date the period opens with is a calendar date (month 1-12, day in month)",
    )
    def start_is_a_date(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("start_date_precision").fill_null("") != "impossible").alias(data.key)
        )

    @pa.dataframe_check(
        name="a placed start date exactly when its stated precision is day, month or year"
    )
    def date_placed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        stated = pl.col("date_precision").is_not_null()
        placed = placed_consistently("start_date")
        in_list = pl.col("date_precision").is_in(PRECISIONS)
        return data.lazyframe.select((~stated | (placed & in_list)).alias("ok"))

    @pa.dataframe_check(name="an intervention ends on or after it starts")
    def ends_after_start(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("end_date").is_null()
                | pl.col("start_date").is_null()
                | (pl.col("end_date") >= pl.col("start_date"))
            ).alias("ok")
        )

    @pa.dataframe_check(name="start date not after the day the file was loaded")
    def not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(not_after_load("start_date").alias("ok"))


INTERVENTION_OPTIONAL = [
    "start_date",
    "date_precision",
    "end_date",
    "date_basis",
    "source_url",
    "exact_phrase",
    "transcribed_from",
]


def _derive_interventions(frame: pl.DataFrame) -> pl.DataFrame:
    """A row that states its precision gives its start date in `start_date` (placed by the
    analyst); an older row gives only free text, whose opening date is read (stated_start)."""
    frame = ensure_columns(frame, INTERVENTION_OPTIONAL).with_columns(
        pl.col("date_precision").str.strip_chars().str.to_lowercase().replace("", None),
        load_date(),
    )
    starts = [stated_start(t) for t in frame.get_column("date_or_period").to_list()]
    read = pl.Series("__read", [s[0] for s in starts], dtype=pl.Date)
    read_precision = pl.Series("__read_precision", [s[1] for s in starts], dtype=pl.String)
    placed = pl.col("date_precision").is_not_null()
    return (
        frame.with_columns(read, read_precision)
        .with_columns(
            pl.when(placed)
            .then(pl.col("start_date"))
            .otherwise(pl.col("__read"))
            .alias("start_date"),
            pl.when(placed)
            .then(pl.col("date_precision"))
            .otherwise(pl.col("__read_precision"))
            .alias("start_date_precision"),
        )
        .with_columns(
            pl.when(pl.col("start_date").is_not_null())
            .then(pl.lit("stated"))
            .otherwise(pl.lit("not stated"))
            .alias("start_date_state"),
            pl.coalesce(
                "source_url", pl.when(pl.col("source").str.contains(URL)).then("source")
            ).alias("citation_url"),
        )
        .drop("__read", "__read_precision")
    )


INTERVENTIONS = StagingSpec(
    model=Interventions,
    scope=NOT_A_COUNCIL,
    parse={"start_date": pl.Date, "end_date": pl.Date},
    council_code=BY_CODE_OR_NAME,
    derive=_derive_interventions,
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "council_name",
        "intervention",
        "date_or_period",
        "start_date",
        "start_date_precision",
        "start_date_state",
        "end_date",
        "date_basis",
        "evidence_seen",
        "source",
        "source_quality",
        "source_url",
        "citation_url",
        "exact_phrase",
        "transcribed_from",
        *LINEAGE,
    ],
)


BEST_VALUE_EVENTS = [
    "notice_issued",
    "notice_reissued",
    "notice_published",
    "notice_removed",
    "notice_expired",
    "best_value_inspection",
]


class BestValueNotices(pa.DataFrameModel):
    """Best Value Notices (issued, reissued, published, removed, expired) and Best Value
    inspections, one row per event, each citing its source_url."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    event_type: str = pa.Field(isin=BEST_VALUE_EVENTS)
    event_date: date = pa.Field(nullable=True)
    date_precision: str = pa.Field(isin=PRECISIONS)
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = ["council_code", "event_type", "event_date", "date_as_stated"]

    @pa.dataframe_check(
        name="an event date exactly when its precision is day, month or year (none when "
        "the date is unplaceable)"
    )
    def date_placed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(placed_consistently("event_date").alias("ok"))

    @pa.dataframe_check(name="event date not after the day the file was loaded")
    def not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(not_after_load("event_date").alias("ok"))


BEST_VALUE_NOTICES = StagingSpec(
    model=BestValueNotices,
    scope=NOT_A_COUNCIL,
    parse={"event_date": pl.Date},
    council_code=BY_CODE_OR_NAME,
    derive=lambda frame: ensure_columns(
        frame, ["date_as_stated", "date_basis", "detail", "notice_ref", "transcribed_from"]
    ).with_columns(
        pl.col("event_type").str.strip_chars().str.to_lowercase(),
        with_precision("event_date"),
        load_date(),
    ),
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "council_name",
        "event_type",
        "event_date",
        "date_precision",
        "date_as_stated",
        "date_basis",
        "detail",
        "source_url",
        "exact_phrase",
        "notice_ref",
        "transcribed_from",
        *LINEAGE,
    ],
)


SUPPORT_TYPES = ["capitalisation", "in-principle", "grant", "withdrawn"]
# The decision-year pages give no day a council was added: unless the row states one, the
# decision is placed at the year's last day (31 March), the latest date the page's title allows
# for a decision about that year, and its precision is "year".
EFS_PLACEMENT = "no decision date transcribed: placed at the end of the decision year (31 March)"


class ExceptionalFinancialSupport(pa.DataFrameModel):
    """Exceptional financial support granted, agreed in principle or asked for and withdrawn,
    one row per council and decision year: each council that asked has told central government
    it is at risk (a known case from the decision date)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    decision_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    support_type: str = pa.Field(isin=SUPPORT_TYPES)
    headline_amount_gbp_m: float = pa.Field(nullable=True, ge=0)
    decision_date: date
    date_precision: str = pa.Field(isin=[p for p in PRECISIONS if p != UNPLACEABLE])
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = ["council_code", "decision_year"]

    @pa.check("decision_year", name="a financial year of consecutive years (2020-21)")
    def consecutive(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(consistent_financial_year(data.key).alias(data.key))

    @pa.dataframe_check(name="decision date not after the day the file was loaded")
    def not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(not_after_load("decision_date").alias("ok"))


def _derive_support(frame: pl.DataFrame) -> pl.DataFrame:
    year_end = pl.date(
        pl.col("decision_year").str.slice(0, 4).cast(pl.Int64, strict=False) + 1, 3, 31
    )
    stated = pl.col("decision_date").is_not_null()
    return ensure_columns(frame, ["date_precision"]).with_columns(
        pl.col("support_type").str.strip_chars().str.to_lowercase(),
        pl.when(stated).then(pl.col("decision_date")).otherwise(year_end).alias("decision_date"),
        pl.when(stated)
        .then(with_precision("decision_date"))
        .otherwise(pl.lit("year"))
        .alias("date_precision"),
        pl.when(stated)
        .then(pl.lit("decision date stated"))
        .otherwise(pl.lit(EFS_PLACEMENT))
        .alias("date_basis"),
        load_date(),
    )


EXCEPTIONAL_FINANCIAL_SUPPORT = StagingSpec(
    model=ExceptionalFinancialSupport,
    parse={"headline_amount_gbp_m": pl.Float64, "decision_date": pl.Date},
    council_code=CouncilCodeRule(),
    derive=_derive_support,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "decision_year",
        "support_type",
        "headline_amount_gbp_m",
        "decision_date",
        "date_precision",
        "date_basis",
        "other_years_and_revisions",
        "source_url",
        "year_list_complete_in_source",
        *LINEAGE,
    ],
)
