"""Service outcomes, as the Data Explorer groups them: household waste (DEFRA), road condition
(DfT), adult skills (DfE via ONS) and children's services (Ofsted).

Which councils a measure belongs to matters here. Waste is collected by districts, unitaries,
metropolitan districts and London boroughs (collection authorities) and disposed of by counties
and unitaries (disposal authorities); DEFRA reports both, each for its own area. Roads are
maintained by highway authorities: counties, unitaries, metropolitan districts and London
boroughs, never districts. Children's services belong to the same upper tier.
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
    financial_year_bounds,
    load_date,
)
from checks.validation import CouncilCodeRule, Scope, StagingSpec


def _ended_by_load(end: str) -> pl.Expr:
    """A period that ends after the day its file was loaded is a typo, not data."""
    return (
        pl.col("load_date").is_null() | pl.col(end).is_null() | (pl.col(end) <= pl.col("load_date"))
    )


# --------------------------------------------------------------------------------------------
# Household waste (DEFRA, Local Authority Collected Waste statistics, Table 3)
# --------------------------------------------------------------------------------------------

WASTE_AUTHORITY_TYPES = ["Collection", "Disposal", "Unitary"]
# The largest residual waste per household in the table is under 1,000 kg; 2,000 kg (and 1,500
# kg collected per person) leave room for a bad year while catching a figure in tonnes or grams.
MAX_RESIDUAL_KG_PER_HOUSEHOLD = 2_000
MAX_COLLECTED_KG_PER_PERSON = 1_500


class WasteIndicators(pa.DataFrameModel):
    """One row per authority and financial year. Rates are fractions (0.367 = 36.7%), as DEFRA
    publishes them; a rate below 0 or above 1 is rejected. `authority_type` says which role the
    figures describe: Collection (districts, some metropolitan districts and London boroughs),
    Disposal (counties) or Unitary (both)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    year_start: int = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    period_end: date = pa.Field(nullable=True)
    load_date: date = pa.Field(nullable=True)
    authority_type: str = pa.Field(isin=WASTE_AUTHORITY_TYPES)
    household_recycling_rate: float = pa.Field(nullable=True, ge=0, le=1)
    residual_household_waste_per_household: float = pa.Field(
        nullable=True, ge=0, le=MAX_RESIDUAL_KG_PER_HOUSEHOLD
    )
    municipal_waste_landfill_rate: float = pa.Field(nullable=True, ge=0, le=1)
    collected_household_waste_per_person: float = pa.Field(
        nullable=True, ge=0, le=MAX_COLLECTED_KG_PER_PERSON
    )

    class Config:
        unique = ["council_code", "financial_year"]

    @pa.dataframe_check(name="financial year names consecutive years")
    def year_consistent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(consistent_financial_year("financial_year").alias("ok"))

    @pa.check("financial_year", name="the year has ended by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ended_by_load("period_end").alias(data.key))


def _derive_waste(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("financial_year").str.strip_chars(),
        pl.col("authority_type").str.strip_chars(),
        *financial_year_bounds("financial_year"),
        load_date(),
        pl.col("load_published").alias("edition_published"),
    )


WASTE_INDICATORS = StagingSpec(
    model=WasteIndicators,
    scope=Scope(
        keep=pl.col("authority_type").str.strip_chars().is_in(WASTE_AUTHORITY_TYPES),
        reason="not an authority: an England or regional total",
    ),
    parse={
        "household_recycling_rate": pl.Float64,
        "residual_household_waste_per_household": pl.Float64,
        "municipal_waste_landfill_rate": pl.Float64,
        "collected_household_waste_per_person": pl.Float64,
    },
    council_code=CouncilCodeRule(),
    derive=_derive_waste,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "authority_type",
        "financial_year",
        "year_start",
        "period_end",
        "edition_published",
        "household_recycling_rate",
        "residual_household_waste_per_household",
        "municipal_waste_landfill_rate",
        "collected_household_waste_per_person",
        *LINEAGE,
    ],
)


# --------------------------------------------------------------------------------------------
# Road condition (DfT RDC0120), one source per road class, one raw row per year cell
# --------------------------------------------------------------------------------------------

# DfT's shorthand in the cells, and the state each stands for.
ROAD_CELL_STATES = {
    "[x]": "not reported",
    "[y]": "unrepresentative (insufficient survey coverage or data-quality issues)",
    "[z]": "not applicable",
}
ROAD_VALUE_STATES = ["reported", *ROAD_CELL_STATES.values()]
_FYE = r"^FYE (\d{4})$"


class RoadCondition(pa.DataFrameModel):
    """One value per highway authority, road class and financial year: the percentage of the
    road length where maintenance should have been considered. A cell holds a figure or DfT's
    shorthand ([x] not reported, [y] unrepresentative, [z] not applicable), which becomes the
    value's state, never a number."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    road_class: str = pa.Field(isin=["A roads and motorways", "B and C roads"])
    financial_year: str = pa.Field(str_matches=FINANCIAL_YEAR)
    year_start: int = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    period_end: date
    load_date: date = pa.Field(nullable=True)
    cell_text: str = pa.Field(nullable=True)
    percent_poor: float = pa.Field(nullable=True, ge=0, le=100)
    value_state: str = pa.Field(isin=ROAD_VALUE_STATES)

    class Config:
        unique = ["council_code", "road_class", "financial_year"]

    @pa.check("cell_text", name="a percentage, or DfT's shorthand [x], [y] or [z]")
    def figure_or_marker(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("cell_text").is_null()
                | pl.col("percent_poor").is_not_null()
                | (pl.col("value_state") != "reported")
            ).alias(data.key)
        )

    @pa.check("financial_year", name="the year has ended by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ended_by_load("period_end").alias(data.key))


def _road_derive(road_class: str):
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        year_end = pl.col("year_label").str.strip_chars().str.extract(_FYE, 1).cast(pl.Int64)
        cell = pl.col("cell_text").str.strip_chars()
        marker = cell.str.to_lowercase()
        number = pl.when(marker.is_in(list(ROAD_CELL_STATES))).then(None).otherwise(cell)
        return frame.with_columns(
            pl.lit(road_class).alias("road_class"),
            (year_end - 1).alias("year_start"),
            pl.format("{}-{}", year_end - 1, (year_end % 100).cast(pl.String).str.zfill(2)).alias(
                "financial_year"
            ),
            pl.date(year_end, 3, 31).alias("period_end"),
            load_date(),
            cell.alias("cell_text"),
            number.cast(pl.Float64, strict=False).alias("percent_poor"),
            marker.replace_strict(ROAD_CELL_STATES, default="reported").alias("value_state"),
            # "Stoke-on-Trent UA [r]" -> "Stoke-on-Trent UA": the markers are notes, not names.
            pl.col("council_name").str.replace_all(r"\s*\[[^\]]*\]", "").alias("council_name"),
            pl.col("load_published").alias("edition_published"),
        )

    return derive


def _road_spec(road_class: str) -> StagingSpec:
    return StagingSpec(
        model=RoadCondition,
        council_code=CouncilCodeRule(),
        derive=_road_derive(road_class),
        output_columns=[
            "council_code",
            "source_council_code",
            "council_name",
            "road_class",
            "financial_year",
            "year_start",
            "period_end",
            "edition_published",
            "cell_text",
            "percent_poor",
            "value_state",
            *LINEAGE,
        ],
    )


ROAD_CONDITION_A_ROADS = _road_spec("A roads and motorways")
ROAD_CONDITION_B_C_ROADS = _road_spec("B and C roads")


# --------------------------------------------------------------------------------------------
# Adult skills (ONS Explore local statistics, from DfE), tidy long
# --------------------------------------------------------------------------------------------

_ACADEMIC_YEAR = r"^(\d{4})-08-01/P1Y$"


class AdultSkills(pa.DataFrameModel):
    """One rate per 100,000 people per area, indicator and academic year (August to July)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    indicator: str = pa.Field(str_length={"min_value": 3})
    period: str = pa.Field(str_matches=_ACADEMIC_YEAR)
    academic_year: str = pa.Field(str_matches=r"^\d{4}/\d{2}$")
    period_end: date
    load_date: date = pa.Field(nullable=True)
    observation: float = pa.Field(nullable=True, ge=0, le=100_000)

    class Config:
        unique = ["source_council_code", "indicator", "period"]

    @pa.check("period", name="the academic year has ended by the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ended_by_load("period_end").alias(data.key))


def _derive_skills(frame: pl.DataFrame) -> pl.DataFrame:
    start = pl.col("period").str.strip_chars().str.extract(_ACADEMIC_YEAR, 1).cast(pl.Int64)
    return frame.with_columns(
        pl.col("period").str.strip_chars(),
        pl.col("indicator").str.strip_chars(),
        pl.format("{}/{}", start, ((start + 1) % 100).cast(pl.String).str.zfill(2)).alias(
            "academic_year"
        ),
        pl.date(start + 1, 7, 31).alias("period_end"),
        load_date(),
        pl.col("load_published").alias("edition_published"),
    )


ADULT_SKILLS = StagingSpec(
    model=AdultSkills,
    parse={"observation": pl.Float64},
    council_code=CouncilCodeRule(),
    derive=_derive_skills,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "geography",
        "indicator",
        "period",
        "academic_year",
        "period_end",
        "edition_published",
        "observation",
        "unit",
        "notes",
        *LINEAGE,
    ],
)


# --------------------------------------------------------------------------------------------
# Ofsted: inspections of local authority children's services (ILACS), one row per report
# --------------------------------------------------------------------------------------------

GRADES = ["outstanding", "good", "requires improvement", "inadequate"]
# What the scrape writes where it has no grade: each is a state, never a grade.
GRADE_STATES = {
    "not_reported_post_reform": "no overall grade (framework from 2026)",
    "inspection_pre_dates_judgement": "judgement did not exist at the inspection",
    "data_unreadable": "grade not read from the report",
}
GRADE_COLUMNS = [
    "overall_effectiveness_grade",
    "impact_of_leaders_grade",
    "help_and_protection_grade",
    "in_care_grade",
    "care_leavers_grade",
]


class OfstedIlacs(pa.DataFrameModel):
    """One published ILACS report. The scrape that made the file is a proof of concept whose
    README asks users to check its figures: each row keeps the link to the report it read,
    which every flag cites. Before 2018 most reports were not parsed (no grade: a state)."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    inspection_link: str = pa.Field(str_matches=URL, unique=True)
    published_on: date
    inspection_start: date = pa.Field(nullable=True)
    inspection_end: date = pa.Field(nullable=True)
    load_date: date = pa.Field(nullable=True)
    overall_effectiveness_grade: str = pa.Field(nullable=True, isin=[*GRADES, *GRADE_STATES])
    impact_of_leaders_grade: str = pa.Field(nullable=True, isin=[*GRADES, *GRADE_STATES])
    help_and_protection_grade: str = pa.Field(nullable=True, isin=[*GRADES, *GRADE_STATES])
    in_care_grade: str = pa.Field(nullable=True, isin=[*GRADES, *GRADE_STATES])
    care_leavers_grade: str = pa.Field(nullable=True, isin=[*GRADES, *GRADE_STATES])
    overall_state: str

    @pa.check("published_on", name="published no later than the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ended_by_load("published_on").alias(data.key))

    @pa.dataframe_check(name="the inspection ended on or before its report was published")
    def inspected_before_published(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (
                pl.col("inspection_end").is_null()
                | (pl.col("inspection_end") <= pl.col("published_on"))
            ).alias("ok")
        )


def _day(column: str, fmt: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_date(fmt, strict=False)


def _derive_ilacs(frame: pl.DataFrame) -> pl.DataFrame:
    overall = pl.col("overall_effectiveness_grade")
    return frame.with_columns(
        *[pl.col(c).str.strip_chars().str.to_lowercase() for c in GRADE_COLUMNS],
        pl.col("inspection_link").str.strip_chars(),
    ).with_columns(
        # The file writes the publication date with a two-digit year, the inspection with four.
        _day("publication_date", "%d/%m/%y").alias("published_on"),
        _day("inspection_start_date", "%d/%m/%Y").alias("inspection_start"),
        _day("inspection_end_date", "%d/%m/%Y").alias("inspection_end"),
        load_date(),
        pl.when(overall.is_in(GRADES))
        .then(pl.lit("graded"))
        .when(overall.is_in(list(GRADE_STATES)))
        .then(overall.replace_strict(GRADE_STATES, default=None))
        .otherwise(pl.lit("no grade in the file"))
        .alias("overall_state"),
    )


OFSTED_ILACS = StagingSpec(
    model=OfstedIlacs,
    council_code=CouncilCodeRule(
        column="council_name",
        via="name",
        # "somerset" in a 2026 report is the unitary council; in 2019, the county.
        on_date=pl.col("publication_date").str.strip_chars().str.to_date("%d/%m/%y", strict=False),
    ),
    derive=_derive_ilacs,
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "urn",
        "inspection_link",
        "published_on",
        "inspection_framework",
        "inspection_start",
        "inspection_end",
        "overall_state",
        *GRADE_COLUMNS,
        *LINEAGE,
    ],
)


# --------------------------------------------------------------------------------------------
# Ofsted management information: each council's latest judgements at 31 March, 2019-2023
# --------------------------------------------------------------------------------------------

MI_GRADE_COLUMNS = [
    "overall_effectiveness",
    "impact_of_leaders",
    "help_and_protection",
    "in_care",
    "care_leavers",
]


class OfstedChildrenServicesMi(pa.DataFrameModel):
    """One row per council and snapshot date: grades 1 outstanding, 2 good, 3 requires
    improvement, 4 inadequate; 9 where a sub-judgement did not exist at the inspection; blank
    where the council had not been inspected under the framework. A snapshot may hold an
    inspection whose report came out after its date (Birmingham at 31 March 2023: report of 18
    April 2023), so the report date is not checked against it."""

    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    as_at_date: date
    report_published_date: date = pa.Field(nullable=True)
    load_date: date = pa.Field(nullable=True)
    overall_effectiveness: int = pa.Field(nullable=True, isin=[1, 2, 3, 4])
    impact_of_leaders: int = pa.Field(nullable=True, isin=[1, 2, 3, 4])
    help_and_protection: int = pa.Field(nullable=True, isin=[1, 2, 3, 4])
    in_care: int = pa.Field(nullable=True, isin=[1, 2, 3, 4, 9])
    care_leavers: int = pa.Field(nullable=True, isin=[1, 2, 3, 4, 9])

    class Config:
        unique = ["council_code", "as_at_date"]

    @pa.check("as_at_date", name="the snapshot date is no later than the day the file was loaded")
    def not_in_the_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ended_by_load("as_at_date").alias(data.key))


OFSTED_CHILDREN_SERVICES_MI = StagingSpec(
    model=OfstedChildrenServicesMi,
    parse={
        "as_at_date": pl.Date,
        "report_published_date": pl.Date,
        **{c: pl.Int64 for c in MI_GRADE_COLUMNS},
    },
    council_code=CouncilCodeRule(column="council_name", via="name", on_date=pl.col("as_at_date")),
    derive=lambda frame: frame.with_columns(load_date()),
    output_columns=[
        "council_code",
        "source_council_code",
        "council_name",
        "as_at_date",
        "report_published_date",
        "provision_type",
        *MI_GRADE_COLUMNS,
        *LINEAGE,
    ],
)
