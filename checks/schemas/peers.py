"""Nearest-neighbour peer groups, as the Data Explorer published them."""

import json

import pandera.polars as pa
import polars as pl

from checks.schemas.common import COUNCIL_GSS, LINEAGE
from checks.validation import CouncilCodeRule, StagingSpec


class NearestNeighbours(pa.DataFrameModel):
    """One row per council: its published neighbour list (which includes itself)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS, unique=True)
    neighbour_codes: str
    n_neighbours: int = pa.Field(in_range={"min_value": 2, "max_value": 40})

    @pa.dataframe_check(name="neighbour list is a JSON array of council codes")
    def list_well_formed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("n_neighbours").is_not_null().alias("ok"))


def _codes(text: str | None) -> list[str] | None:
    try:
        codes = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        return None
    return [c.strip().upper() for c in codes]


def _derive(frame: pl.DataFrame) -> pl.DataFrame:
    parsed = pl.Series(
        "neighbours",
        [_codes(t) for t in frame.get_column("neighbour_codes").to_list()],
        dtype=pl.List(pl.String),
    )
    return frame.with_columns(parsed).with_columns(
        pl.col("neighbours").list.len().cast(pl.Int64).alias("n_neighbours")
    )


NEAREST_NEIGHBOURS = StagingSpec(
    model=NearestNeighbours,
    council_code=CouncilCodeRule(),
    derive=_derive,
    output_columns=[
        "council_code",
        "source_council_code",
        "neighbour_codes",
        "neighbours",
        "n_neighbours",
        *LINEAGE,
    ],
)
