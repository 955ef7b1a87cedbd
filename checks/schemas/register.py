"""The council register (mySociety) and its two lookups."""

from datetime import date

import pandera.polars as pa
import polars as pl

from checks.schemas.common import ANY_GSS, COUNCIL_GSS, ENGLISH_REGIONS, LINEAGE
from checks.validation import CouncilCodeRule, Scope, StagingSpec

# The register's own type codes, and the names analysts use for council tiers.
COUNCIL_TYPES = {
    "CTY": "county",
    "NMD": "district",
    "UA": "unitary",
    "MD": "metropolitan district",
    "LBO": "london borough",
    "CC": "london borough",  # the City of London is compared with the boroughs
}
# Which tiers deliver adult social care: indicators of that service do not apply elsewhere.
SOCIAL_CARE_TIERS = ["county", "unitary", "metropolitan district", "london borough"]


class CouncilRegister(pa.DataFrameModel):
    """English principal councils, current and abolished, one row per council."""

    gss_code: str = pa.Field(str_matches=COUNCIL_GSS, unique=True)
    register_code: str = pa.Field(str_matches=r"^[A-Z]{3,4}$", unique=True)
    council_name: str = pa.Field(str_length={"min_value": 2})
    official_name: str
    authority_type: str = pa.Field(isin=list(COUNCIL_TYPES))
    council_type: str = pa.Field(isin=sorted(set(COUNCIL_TYPES.values())))
    region: str = pa.Field(isin=ENGLISH_REGIONS)
    start_date: date = pa.Field(nullable=True)
    end_date: date = pa.Field(nullable=True)
    replaced_by: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{3,4}(,[A-Z]{3,4})*$")
    former_gss_codes: str = pa.Field(nullable=True)
    population_2020: float = pa.Field(nullable=True, ge=0)
    is_current: bool

    @pa.dataframe_check(name="abolished councils name a successor")
    def successor_named(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("end_date").is_null() | pl.col("replaced_by").is_not_null()).alias("ok")
        )

    @pa.dataframe_check(name="end date after start date")
    def dates_in_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("start_date").is_null()
                | pl.col("end_date").is_null()
                | (pl.col("end_date") >= pl.col("start_date"))
            ).alias("ok")
        )


def _derive_register(frame: pl.DataFrame) -> pl.DataFrame:
    # Some abolished councils have no region in the register; a successor covers the same
    # ground, so the first successor's region is used and the fact recorded.
    successor_region = frame.select(
        pl.col("register_code").alias("__successor"), pl.col("region").alias("__successor_region")
    )
    return (
        frame.with_columns(pl.col("replaced_by").str.split(",").list.first().alias("__successor"))
        .join(successor_region, on="__successor", how="left")
        .with_columns(
            pl.when(pl.col("region").is_null() & pl.col("__successor_region").is_not_null())
            .then(pl.lit("successor's region"))
            .otherwise(pl.lit("register"))
            .alias("region_source"),
            pl.coalesce("region", "__successor_region").alias("region"),
            pl.col("nice_name").alias("council_name"),
            pl.col("authority_type")
            .replace_strict(COUNCIL_TYPES, default=None)
            .alias("council_type"),
            pl.col("end_date").is_null().alias("is_current"),
        )
        .drop("__successor", "__successor_region")
    )


COUNCIL_REGISTER = StagingSpec(
    model=CouncilRegister,
    scope=Scope(
        keep=(pl.col("nation") == "England")
        & pl.col("gss_code").str.contains(COUNCIL_GSS)
        & pl.col("authority_type").is_in(list(COUNCIL_TYPES)),
        reason="not an English principal council (other nation, combined authority or GLA)",
    ),
    parse={
        "start_date": pl.Date,
        "end_date": pl.Date,
        "population_2020": pl.Float64,
    },
    derive=_derive_register,
    output_columns=[
        "gss_code",
        "register_code",
        "council_name",
        "official_name",
        "authority_type",
        "council_type",
        "region",
        "region_source",
        "start_date",
        "end_date",
        "replaced_by",
        "former_gss_codes",
        "alt_names",
        "ecode",
        "population_2020",
        "is_current",
        *LINEAGE,
    ],
)


class CouncilGssLookup(pa.DataFrameModel):
    """A GSS code (current or former) and the register council it belongs to."""

    gss_code: str = pa.Field(str_matches=ANY_GSS, unique=True)
    register_code: str = pa.Field(str_matches=r"^[A-Z]{3,4}$")
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)


COUNCIL_GSS_LOOKUP = StagingSpec(
    model=CouncilGssLookup,
    council_code=CouncilCodeRule(column="register_code", via="register_code"),
    output_columns=["gss_code", "register_code", "council_code", *LINEAGE],
)


class CouncilNameLookup(pa.DataFrameModel):
    """A name variant (as sources spell it) and the register council it means."""

    name_variant: str = pa.Field(str_length={"min_value": 1})
    register_code: str = pa.Field(str_matches=r"^[A-Z]{3,4}$")
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)

    class Config:
        unique = ["name_variant", "register_code"]


COUNCIL_NAME_LOOKUP = StagingSpec(
    model=CouncilNameLookup,
    council_code=CouncilCodeRule(column="register_code", via="register_code"),
    output_columns=["name_variant", "register_code", "council_code", *LINEAGE],
)
