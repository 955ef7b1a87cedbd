"""Known cases: councils that have already told government, or been told, they are in trouble.

The shipped registers are compiled from public lists and each row cites its source; their
dates are as the sources state them, never filled in by guesswork.
"""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, LINEAGE
from checks.validation import CouncilCodeRule, StagingSpec


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
    source: str = pa.Field(str_length={"min_value": 3})

    class Config:
        unique = ["council_code", "intervention"]

    @pa.check(
        "date_or_period",
        name="a start date the period opens with is a calendar date (month 1-12, day in month)",
    )
    def start_is_a_date(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("start_date_precision").fill_null("") != "impossible").alias(data.key)
        )


def _derive_interventions(frame: pl.DataFrame) -> pl.DataFrame:
    starts = [stated_start(t) for t in frame.get_column("date_or_period").to_list()]
    return frame.with_columns(
        pl.Series("start_date", [s[0] for s in starts], dtype=pl.Date),
        pl.Series("start_date_precision", [s[1] for s in starts], dtype=pl.String),
        pl.Series(
            "start_date_state",
            ["stated" if s[0] else "not stated" for s in starts],
            dtype=pl.String,
        ),
    )


INTERVENTIONS = StagingSpec(
    model=Interventions,
    council_code=CouncilCodeRule(),
    derive=_derive_interventions,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "intervention",
        "date_or_period",
        "start_date",
        "start_date_precision",
        "start_date_state",
        "evidence_seen",
        "source",
        "source_quality",
        *LINEAGE,
    ],
)
