"""Registers kept by analysts from published reports: external audit outputs and LGA
Corporate Peer Challenges. One row per finding or per challenge, each citing its source: its
`source_url` and, for rows transcribed from a web page, the exact phrase read there. Dates are
placed with their precision (checks/schemas/placement.py); a row whose date cannot be placed in
time is kept but never used point in time."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, LINEAGE, URL
from checks.schemas.placement import (
    FINANCIAL_YEARS,
    PRECISIONS,
    ensure_columns,
    load_date,
    not_after_load,
    placed_consistently,
    with_precision,
)
from checks.validation import CouncilCodeRule, Scope, StagingSpec

FINDING_TYPES = [
    "audit_opinion",
    "vfm_significant_weakness",
    "recommendation",
    "public_interest_report",
    # Kept in the register; what each feeds (if anything) is in the indicator catalogue.
    "vfm_no_significant_weakness",
    "vfm_qualified_conclusion",  # the value-for-money conclusion of the pre-2020 audit code
    "accounts_delayed",  # the council's own (draft) accounts published late
    "auditor_review",  # another report by the auditor, not stated as a weakness
    "non_statutory_review",  # a review commissioned by government, not by the auditor
]
# "outstanding": as at the finding date, no opinion had been given for the year.
OPINIONS = ["unmodified", "qualified", "adverse", "disclaimed", "outstanding"]
# "not_stated": the source gives no reason; like a backstop disclaimer it is missing
# evidence, never a finding against the council.
DISCLAIMER_REASONS = ["backstop", "other", "not_stated"]
VFM_CRITERIA = [
    "financial_sustainability",
    "governance",
    "economy_efficiency_effectiveness",
    "not_stated",
]
RECOMMENDATION_TIERS = ["statutory", "key", "improvement"]
# Bodies that are not councils (combined authorities) appear on the same pages.
NOT_A_COUNCIL = r"(?i)combined authority"


def _requires(column: str, when: pl.Expr) -> pl.Expr:
    return (~when) | pl.col(column).is_not_null()


def _not_a_council() -> Scope:
    return Scope(
        keep=~pl.col("council_name").fill_null("").str.contains(NOT_A_COUNCIL),
        reason="not a council (a combined authority): kept out of the council registers",
    )


class AuditFindings(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    financial_year: str = pa.Field(nullable=True, str_matches=FINANCIAL_YEARS)
    finding_type: str = pa.Field(isin=FINDING_TYPES)
    opinion: str = pa.Field(nullable=True, isin=OPINIONS)
    disclaimer_reason: str = pa.Field(nullable=True, isin=DISCLAIMER_REASONS)
    vfm_criterion: str = pa.Field(nullable=True, isin=VFM_CRITERIA)
    recommendation_tier: str = pa.Field(nullable=True, isin=RECOMMENDATION_TIERS)
    finding_date: date = pa.Field(nullable=True)
    published_date: date = pa.Field(nullable=True)
    date_precision: str = pa.Field(isin=PRECISIONS)
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = [
            "council_code",
            "financial_year",
            "finding_type",
            "vfm_criterion",
            "recommendation_tier",
            "finding_date",
            # Two unplaceable rows differ by what their sources said.
            "date_as_stated",
        ]

    @pa.dataframe_check(
        name="a finding date exactly when its precision is day, month or year (none when "
        "the date is unplaceable)"
    )
    def date_placed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(placed_consistently("finding_date").alias("ok"))

    @pa.dataframe_check(name="finding and publication dates not after the day the file was loaded")
    def not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (not_after_load("finding_date") & not_after_load("published_date")).alias("ok")
        )

    @pa.dataframe_check(name="an audit opinion row states the opinion")
    def opinion_stated(cls, data: pa.PolarsData) -> pl.LazyFrame:
        is_opinion = pl.col("finding_type") == "audit_opinion"
        return data.lazyframe.select(_requires("opinion", is_opinion).alias("ok"))

    @pa.dataframe_check(name="a disclaimed opinion states why (backstop or other)")
    def disclaimer_explained(cls, data: pa.PolarsData) -> pl.LazyFrame:
        disclaimed = (pl.col("opinion") == "disclaimed").fill_null(False)
        return data.lazyframe.select(_requires("disclaimer_reason", disclaimed).alias("ok"))

    @pa.dataframe_check(name="a significant weakness names its VfM criterion")
    def criterion_stated(cls, data: pa.PolarsData) -> pl.LazyFrame:
        weakness = pl.col("finding_type") == "vfm_significant_weakness"
        return data.lazyframe.select(_requires("vfm_criterion", weakness).alias("ok"))

    @pa.dataframe_check(name="a recommendation names its tier")
    def tier_stated(cls, data: pa.PolarsData) -> pl.LazyFrame:
        recommendation = pl.col("finding_type") == "recommendation"
        return data.lazyframe.select(_requires("recommendation_tier", recommendation).alias("ok"))

    @pa.dataframe_check(name="published on or after the finding date")
    def published_after_finding(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("published_date").is_null()
                | pl.col("finding_date").is_null()
                | (pl.col("published_date") >= pl.col("finding_date"))
            ).alias("ok")
        )


def _lower(columns: list[str]) -> list[pl.Expr]:
    return [pl.col(c).str.strip_chars().str.to_lowercase() for c in columns]


AUDIT_OPTIONAL = [
    "date_precision",
    "date_as_stated",
    "date_basis",
    "exact_phrase",
    "finding_ref",
    "transcribed_from",
]


def _derive_findings(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        ensure_columns(frame, AUDIT_OPTIONAL)
        .with_columns(
            *_lower(
                [
                    "finding_type",
                    "opinion",
                    "disclaimer_reason",
                    "vfm_criterion",
                    "recommendation_tier",
                ]
            ),
            pl.col("financial_year").str.replace_all(r"\s", ""),
            load_date(),
        )
        .with_columns(with_precision("finding_date"))
    )


# A row that gives no council code is matched by the council's name.
BY_CODE_OR_NAME = CouncilCodeRule(fallback_column="council_name", fallback_via="name")

AUDIT_FINDINGS = StagingSpec(
    model=AuditFindings,
    scope=_not_a_council(),
    parse={"finding_date": pl.Date, "published_date": pl.Date},
    council_code=BY_CODE_OR_NAME,
    derive=_derive_findings,
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "council_name",
        "financial_year",
        "finding_type",
        "opinion",
        "disclaimer_reason",
        "vfm_criterion",
        "recommendation_tier",
        "finding_date",
        "published_date",
        "date_precision",
        "date_as_stated",
        "date_basis",
        "auditor",
        "summary",
        "source_url",
        "exact_phrase",
        "finding_ref",
        "transcribed_from",
        *LINEAGE,
    ],
)


class PeerChallenges(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    challenge_date: date = pa.Field(nullable=True)
    report_published_date: date = pa.Field(nullable=True)
    action_plan_published_date: date = pa.Field(nullable=True)
    progress_review_date: date = pa.Field(nullable=True)
    date_precision: str = pa.Field(isin=PRECISIONS)
    # False: the row records the challenge only; an empty report or review date then says
    # nothing about whether it happened, so nothing is judged overdue.
    follow_up_recorded: bool
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = ["council_code", "challenge_date", "date_as_stated"]

    @pa.dataframe_check(
        name="a challenge date exactly when its precision is day, month or year (none when "
        "the date is unplaceable)"
    )
    def date_placed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(placed_consistently("challenge_date").alias("ok"))

    @pa.dataframe_check(name="dates are not after the day the file was loaded")
    def not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        dates = (
            "challenge_date",
            "report_published_date",
            "action_plan_published_date",
            "progress_review_date",
        )
        return data.lazyframe.select(
            pl.all_horizontal([not_after_load(c) for c in dates]).alias("ok")
        )

    @pa.dataframe_check(name="report, action plan and review follow the challenge")
    def dates_follow(cls, data: pa.PolarsData) -> pl.LazyFrame:
        later = [
            pl.col(c).is_null()
            | pl.col("challenge_date").is_null()
            | (pl.col(c) >= pl.col("challenge_date"))
            for c in (
                "report_published_date",
                "action_plan_published_date",
                "progress_review_date",
            )
        ]
        return data.lazyframe.select((later[0] & later[1] & later[2]).alias("ok"))


PEER_OPTIONAL = [
    "date_precision",
    "date_as_stated",
    "date_basis",
    "follow_up_recorded",
    "exact_phrase",
    "transcribed_from",
]


def _derive_challenges(frame: pl.DataFrame) -> pl.DataFrame:
    # Before `follow_up_recorded` existed, an empty report date meant "not published".
    return (
        ensure_columns(frame, PEER_OPTIONAL)
        .with_columns(
            pl.coalesce(pl.col("follow_up_recorded").cast(pl.Boolean), pl.lit(True)).alias(
                "follow_up_recorded"
            ),
            load_date(),
        )
        .with_columns(with_precision("challenge_date"))
    )


PEER_CHALLENGES = StagingSpec(
    model=PeerChallenges,
    scope=_not_a_council(),
    parse={
        "challenge_date": pl.Date,
        "report_published_date": pl.Date,
        "action_plan_published_date": pl.Date,
        "progress_review_date": pl.Date,
        "follow_up_recorded": pl.Boolean,
    },
    council_code=BY_CODE_OR_NAME,
    derive=_derive_challenges,
    output_columns=[
        "council_code",
        "source_council_code",
        "code_resolved_by",
        "council_name",
        "challenge_date",
        "report_published_date",
        "action_plan_published_date",
        "progress_review_date",
        "date_precision",
        "date_as_stated",
        "date_basis",
        "follow_up_recorded",
        "source_url",
        "exact_phrase",
        "transcribed_from",
        *LINEAGE,
    ],
)
