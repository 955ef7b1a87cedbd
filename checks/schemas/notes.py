"""Analysts' soft-intelligence notes: dated notes per council (leadership turnover,
whistleblowing, media...). Sensitive: a note leaves the warehouse (in a briefing pack) only
when marked shareable, and never appears in the Parquet watchlist. A note whose shareability is
not a clear yes or no is rejected, so an unclear note is never published by accident."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, LINEAGE
from checks.validation import CouncilCodeRule, StagingSpec

CATEGORIES = ["leadership", "governance", "finance", "whistleblowing", "media", "service", "other"]


class AnalystNotes(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    note_date: date
    category: str = pa.Field(isin=CATEGORIES)
    note: str = pa.Field(str_length={"min_value": 3})
    shareable: bool


NOTES = StagingSpec(
    model=AnalystNotes,
    parse={"note_date": pl.Date, "shareable": pl.Boolean},
    council_code=CouncilCodeRule(),
    derive=lambda frame: frame.with_columns(
        pl.col("category").str.strip_chars().str.to_lowercase()
    ),
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "note_date",
        "category",
        "note",
        "shareable",
        "recorded_by",
        *LINEAGE,
    ],
)
