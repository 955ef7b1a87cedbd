"""Registers kept by analysts from published reports: external audit outputs and LGA
Corporate Peer Challenges. One row per finding or per challenge, each citing its source."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, FINANCIAL_YEAR, LINEAGE, URL
from checks.validation import CouncilCodeRule, StagingSpec

FINDING_TYPES = [
    "audit_opinion",
    "vfm_significant_weakness",
    "recommendation",
    "public_interest_report",
]
# "outstanding": as at the finding date, no opinion had been given for the year.
OPINIONS = ["unmodified", "qualified", "adverse", "disclaimed", "outstanding"]
DISCLAIMER_REASONS = ["backstop", "other"]
VFM_CRITERIA = ["financial_sustainability", "governance", "economy_efficiency_effectiveness"]
RECOMMENDATION_TIERS = ["statutory", "key", "improvement"]


def _requires(column: str, when: pl.Expr) -> pl.Expr:
    return (~when) | pl.col(column).is_not_null()


class AuditFindings(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    finding_type: str = pa.Field(isin=FINDING_TYPES)
    opinion: str = pa.Field(nullable=True, isin=OPINIONS)
    disclaimer_reason: str = pa.Field(nullable=True, isin=DISCLAIMER_REASONS)
    vfm_criterion: str = pa.Field(nullable=True, isin=VFM_CRITERIA)
    recommendation_tier: str = pa.Field(nullable=True, isin=RECOMMENDATION_TIERS)
    finding_date: date
    published_date: date = pa.Field(nullable=True)
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = [
            "council_code",
            "financial_year",
            "finding_type",
            "vfm_criterion",
            "recommendation_tier",
            "finding_date",
        ]

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
                | (pl.col("published_date") >= pl.col("finding_date"))
            ).alias("ok")
        )


def _lower(columns: list[str]) -> list[pl.Expr]:
    return [pl.col(c).str.strip_chars().str.to_lowercase() for c in columns]


def _derive_findings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        _lower(
            ["finding_type", "opinion", "disclaimer_reason", "vfm_criterion", "recommendation_tier"]
        )
    )


AUDIT_FINDINGS = StagingSpec(
    model=AuditFindings,
    parse={"finding_date": pl.Date, "published_date": pl.Date},
    council_code=CouncilCodeRule(),
    derive=_derive_findings,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "financial_year",
        "finding_type",
        "opinion",
        "disclaimer_reason",
        "vfm_criterion",
        "recommendation_tier",
        "finding_date",
        "published_date",
        "auditor",
        "summary",
        "source_url",
        *LINEAGE,
    ],
)


class PeerChallenges(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    challenge_date: date
    report_published_date: date = pa.Field(nullable=True)
    action_plan_published_date: date = pa.Field(nullable=True)
    progress_review_date: date = pa.Field(nullable=True)
    source_url: str = pa.Field(str_matches=URL)

    class Config:
        unique = ["council_code", "challenge_date"]

    @pa.dataframe_check(name="report, action plan and review follow the challenge")
    def dates_follow(cls, data: pa.PolarsData) -> pl.LazyFrame:
        later = [
            pl.col(c).is_null() | (pl.col(c) >= pl.col("challenge_date"))
            for c in (
                "report_published_date",
                "action_plan_published_date",
                "progress_review_date",
            )
        ]
        return data.lazyframe.select((later[0] & later[1] & later[2]).alias("ok"))


PEER_CHALLENGES = StagingSpec(
    model=PeerChallenges,
    parse={
        "challenge_date": pl.Date,
        "report_published_date": pl.Date,
        "action_plan_published_date": pl.Date,
        "progress_review_date": pl.Date,
    },
    council_code=CouncilCodeRule(),
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "challenge_date",
        "report_published_date",
        "action_plan_published_date",
        "progress_review_date",
        "source_url",
        *LINEAGE,
    ],
)
