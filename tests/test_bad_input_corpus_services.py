"""The bad-input corpus for the service-outcome sources (waste, road condition, adult skills,
Ofsted): each case writes the fictional estate's file in its real layout with fictional rows,
breaks it one way, and asserts the exact outcome with tests/test_bad_input_corpus.py's runner:
a structural failure naming the file and the reason, or exactly the expected quarantine rows
with raw = validated + quarantined."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from test_bad_input_corpus import NOT_A_COUNCIL, NOT_IN_REGISTER, Case, Ctx, Q, run_case

from checks.schemas.services import GRADE_STATES, GRADES
from pipelines.synthetic import (
    ROAD_HEADER,
    ROAD_SHEETS,
    ROAD_YEARS,
    SERVICE_PATHS,
    WASTE_HEADER,
    write_ods,
    write_service_outcomes,
)

WASTE = SERVICE_PATHS["waste"]
ROADS = SERVICE_PATHS["roads"]
MI = SERVICE_PATHS["ofsted_mi"]
ILACS = SERVICE_PATHS["ilacs"]
SKILLS = "sources/service_outcomes/further-education-and-skills-participation.csv"
NAME_REASON = (
    "council name missing, or it matches no council (or more than one, and the row's date does "
    "not say which) in the register's names and name lookup, exactly nor once 'Council', "
    "'Borough of' and the like are set aside"
)
ENDED = "the year has ended by the day the file was loaded"
# About a minute for the twenty cases on two cores: each re-materialises its source.
pytestmark = pytest.mark.slow
DUPLICATE = "exact duplicate"


def _this_financial_year(today: date) -> str:
    """The financial year running today: it has not ended, so no outturn can report it."""
    start = today.year if today.month >= 4 else today.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def _districts(ctx: Ctx) -> list[Any]:
    return [c for c in ctx.estate.councils if c.authority_type == "NMD"]


def _upper_tier(ctx: Ctx) -> list[Any]:
    return [c for c in ctx.estate.councils if c.authority_type in {"CTY", "UA"}]


def _waste_row(council: Any, year: str = "2022-23", rate: object = 0.41) -> list[object]:
    return [
        year,
        council.region,
        council.gss_code,
        1,
        council.name,
        "Collection",
        500.5,
        rate,
        None,
        400.0,
    ]


def _road_row(council: Any, **cells: object) -> list[object]:
    values = [cells.get(f"FYE {y}", 5) for y in ROAD_YEARS]
    return [council.gss_code, council.region, council.name, *values, "[z]"]


def _ilacs_row(council: Any, **change: str) -> list[str]:
    row = {
        "urn": "900001",
        "local_authority": council.name.lower(),
        "inspection_link": f"https://example.org/report/{council.gss_code}",
        "pdf_filename": "children's services inspection - fictional.pdf",
        "publication_date": "15/03/22",
        "inspection_framework": "standard",
        "inspector_name": "A Fictional Inspector",
        "inspection_start_date": "10/01/2022",
        "inspection_end_date": "21/01/2022",
        "overall_effectiveness_grade": "inadequate",
        "impact_of_leaders_grade": "inadequate",
        "help_and_protection_grade": "requires improvement",
        "in_care_grade": "requires improvement",
        "care_leavers_grade": "good",
        "parser_version": "1",
    }
    row.update(change)
    return list(row.values())


def _mi_row(name: str) -> list[object]:
    return [
        "None",
        name,
        "2023-07-12T00:00:00",
        "OS",
        "Children's social care",
        "2023-03-31T00:00:00",
        "2022-01-14T00:00:00",
        "South East",
        name,
        "Not available",
        "Local authority",
        "Inspection of local authority children's services",
        "Local authority",
        "Not available",
        2,
        2,
        2,
        2,
        9,
    ]


def _skills_row(code: str, name: str, observation: str, start: int = 2022) -> list[str]:
    return [
        code,
        name,
        "Local Authority District",
        "Further education and skills participation",
        f"{start}-08-01/P1Y",
        observation,
        "Rate per 100,000 population",
        "Rate per 100,000 population",
        "",
        "",
        "",
        "",
    ]


def _write(p: Any, **rows: Any) -> None:
    write_service_outcomes(p.data_dir, **rows)


def _html(relative: str):
    def breaks(p: Any, ctx: Ctx) -> None:
        p.path(relative).write_text(
            "<!DOCTYPE html><html><body>Page not found</body></html>", encoding="utf-8"
        )

    return breaks


# --------------------------------------------------------------------------------------------
# Waste (DEFRA Table 3)
# --------------------------------------------------------------------------------------------


def _waste_sheet_renamed(p: Any, ctx: Ctx) -> None:
    write_ods(p.path(WASTE), {"Table 3": [[], [], [], WASTE_HEADER]})


def _waste_column_missing(p: Any, ctx: Ctx) -> None:
    header = [h for h in WASTE_HEADER if not h.startswith("Percentage of household")]
    row = _waste_row(_districts(ctx)[0])
    del row[7]
    write_ods(p.path(WASTE), {"Table_3": [[], [], [], header, row]})


def _waste_repeated_block(p: Any, ctx: Ctx) -> None:
    block = [_waste_row(c) for c in _districts(ctx)[:2]]
    _write(p, waste=[*block, *block])


def _waste_unknown_code(p: Any, ctx: Ctx) -> None:
    unknown = _waste_row(_districts(ctx)[1])
    unknown[2] = "E07999999"
    _write(p, waste=[_waste_row(_districts(ctx)[0]), unknown])


def _waste_rates_out_of_range(p: Any, ctx: Ctx) -> None:
    first, second, third = _districts(ctx)[:3]
    _write(p, waste=[_waste_row(first, rate=-0.1), _waste_row(second, rate=1.3), _waste_row(third)])


def _waste_year_in_future(p: Any, ctx: Ctx) -> None:
    future = _this_financial_year(date.today())
    ctx.notes["year"] = future
    _write(p, waste=[_waste_row(_districts(ctx)[0], year=future)])


def _waste_total_row(p: Any, ctx: Ctx) -> None:
    total = ["2022-23", "England", "Total", None, "England", "Total", 480.0, 0.42, 0.1, 390.0]
    _write(p, waste=[_waste_row(_districts(ctx)[0]), total])


# --------------------------------------------------------------------------------------------
# Road condition (DfT RDC0120)
# --------------------------------------------------------------------------------------------


def _roads_sheet_missing(p: Any, ctx: Ctx) -> None:
    council = _upper_tier(ctx)[0]
    write_ods(
        p.path(ROADS),
        {ROAD_SHEETS["a"]: [[], [], [], [], ROAD_HEADER, _road_row(council)]},
    )


def _roads_bad_cells(p: Any, ctx: Ctx) -> None:
    council = _upper_tier(ctx)[0]
    _write(p, roads_a=[_road_row(council, **{"FYE 2020": 135, "FYE 2021": "n/k"})])


def _roads_unknown_code(p: Any, ctx: Ctx) -> None:
    row = _road_row(_upper_tier(ctx)[0])
    row[0] = "E10999999"
    _write(p, roads_a=[row])


# --------------------------------------------------------------------------------------------
# Ofsted: ILACS reports and the management information
# --------------------------------------------------------------------------------------------


def _ilacs_unknown_name(p: Any, ctx: Ctx) -> None:
    council = _upper_tier(ctx)[0]
    _write(p, ilacs=[_ilacs_row(council, local_authority="Nowhereshire")])


def _ilacs_future(p: Any, ctx: Ctx) -> None:
    next_year = date.today().year + 1
    ctx.notes["published"] = date(next_year, 6, 1).isoformat()
    council = _upper_tier(ctx)[0]
    _write(
        p,
        ilacs=[
            _ilacs_row(
                council,
                publication_date=f"01/06/{next_year % 100:02d}",
                inspection_start_date=f"01/04/{next_year}",
                inspection_end_date=f"12/04/{next_year}",
            )
        ],
    )


def _ilacs_unknown_grade(p: Any, ctx: Ctx) -> None:
    first, second = _upper_tier(ctx)[:2]
    _write(
        p, ilacs=[_ilacs_row(first, overall_effectiveness_grade="Excellent"), _ilacs_row(second)]
    )


def _ilacs_repeated_row(p: Any, ctx: Ctx) -> None:
    row = _ilacs_row(_upper_tier(ctx)[0])
    _write(p, ilacs=[row, row])


def _mi_sheet_renamed(p: Any, ctx: Ctx) -> None:
    write_ods(p.path(MI), {"Provider level data": [[], [], ["URN", "Name"]]})


def _mi_unknown_name(p: Any, ctx: Ctx) -> None:
    _write(p, ofsted_mi=[_mi_row(_upper_tier(ctx)[0].name), _mi_row("Nowhere Borough")])


# --------------------------------------------------------------------------------------------
# Adult skills (ONS Explore local statistics)
# --------------------------------------------------------------------------------------------


def _skills_rows(p: Any, ctx: Ctx) -> None:
    district = _districts(ctx)[0]
    rows = [
        _skills_row(district.gss_code, district.name, "5120"),
        _skills_row("E07999999", "Nowhere", "4000"),
        _skills_row(_districts(ctx)[1].gss_code, _districts(ctx)[1].name, "-5"),
        _skills_row("E92000001", "England", "5174"),
    ]
    _write(p, skills={SKILLS.rsplit("/", 1)[1]: rows})


def _skills_future(p: Any, ctx: Ctx) -> None:
    district = _districts(ctx)[0]
    start = date.today().year
    ctx.notes["period"] = f"{start}-08-01/P1Y"
    _write(
        p,
        skills={
            SKILLS.rsplit("/", 1)[1]: [_skills_row(district.gss_code, district.name, "1", start)]
        },
    )


def _fye(year: int) -> str:
    return f"FYE {year}"


CASES: dict[str, Case] = {
    # Waste
    "waste_sheet_renamed": Case(
        "waste_indicators", _waste_sheet_renamed, fails="sheet 'Table_3' not found"
    ),
    "waste_recycling_column_missing": Case(
        "waste_indicators",
        _waste_column_missing,
        fails="missing required column(s): household_recycling_rate",
    ),
    "waste_ods_is_html": Case(
        "waste_indicators", _html(WASTE), fails="not a readable .ods workbook"
    ),
    "waste_repeated_block": Case(
        "waste_indicators",
        _waste_repeated_block,
        quarantined=(
            Q(
                7,
                "(row)",
                DUPLICATE,
                "5",
                "repeats row 5 of the same file word for word",
                "duplicate",
            ),
            Q(
                8,
                "(row)",
                DUPLICATE,
                "6",
                "repeats row 6 of the same file word for word",
                "duplicate",
            ),
        ),
        raw_delta=4,
    ),
    "waste_unknown_ons_code": Case(
        "waste_indicators",
        _waste_unknown_code,
        quarantined=(
            Q(6, "council_code", "council code in register", "E07999999", NOT_IN_REGISTER),
        ),
        raw_delta=2,
    ),
    "waste_rate_negative_or_over_one": Case(
        "waste_indicators",
        _waste_rates_out_of_range,
        quarantined=(
            Q(5, "household_recycling_rate", "schema", "-0.1", "greater_than_or_equal_to(0)"),
            Q(6, "household_recycling_rate", "schema", "1.3", "less_than_or_equal_to(1)"),
        ),
        raw_delta=3,
    ),
    "waste_year_in_the_future": Case(
        "waste_indicators",
        _waste_year_in_future,
        quarantined=lambda ctx: [Q(5, "financial_year", "schema", ctx.notes["year"], ENDED)],
        raw_delta=1,
    ),
    "waste_england_total_out_of_scope": Case(
        "waste_indicators",
        _waste_total_row,
        quarantined=(
            Q(
                6,
                "(row)",
                "in scope",
                None,
                "not an authority: an England or regional total",
                "out_of_scope",
            ),
        ),
        raw_delta=2,
    ),
    # Road condition
    "roads_b_c_sheet_missing": Case(
        "road_condition_b_c_roads",
        _roads_sheet_missing,
        fails="sheet 'RDC0120_B_and_C_Roads' not found",
    ),
    "roads_ods_is_html": Case(
        "road_condition_a_roads", _html(ROADS), fails="not a readable .ods workbook"
    ),
    "roads_percent_over_100_and_text": Case(
        "road_condition_a_roads",
        _roads_bad_cells,
        quarantined=(
            Q(
                6,
                "percent_poor",
                "schema",
                "135.0",
                "less_than_or_equal_to(100)",
                source_column=_fye(2020),
            ),
            Q(
                6,
                "cell_text",
                "schema",
                "n/k",
                "a percentage, or DfT's shorthand [x], [y] or [z]",
                source_column=_fye(2021),
            ),
        ),
        raw_delta=len(ROAD_YEARS),
    ),
    "roads_unknown_ons_code": Case(
        "road_condition_a_roads",
        _roads_unknown_code,
        quarantined=tuple(
            Q(
                6,
                "council_code",
                "council code in register",
                "E10999999",
                NOT_IN_REGISTER,
                source_column=_fye(y),
            )
            for y in ROAD_YEARS
        ),
        raw_delta=len(ROAD_YEARS),
    ),
    # Ofsted
    "ilacs_name_matches_no_council": Case(
        "ofsted_ilacs",
        _ilacs_unknown_name,
        quarantined=(
            Q(2, "council_name", "council name in register", "Nowhereshire", NAME_REASON),
        ),
        raw_delta=1,
    ),
    "ilacs_published_in_the_future": Case(
        "ofsted_ilacs",
        _ilacs_future,
        quarantined=lambda ctx: [
            Q(
                2,
                "published_on",
                "schema",
                ctx.notes["published"],
                "published no later than the day the file was loaded",
            )
        ],
        raw_delta=1,
    ),
    "ilacs_unknown_grade": Case(
        "ofsted_ilacs",
        _ilacs_unknown_grade,
        quarantined=(
            Q(
                2,
                "overall_effectiveness_grade",
                "schema",
                "excellent",
                f"isin({[*GRADES, *GRADE_STATES]!r})",
            ),
        ),
        raw_delta=2,
    ),
    "ilacs_repeated_row": Case(
        "ofsted_ilacs",
        _ilacs_repeated_row,
        quarantined=(
            Q(
                3,
                "(row)",
                DUPLICATE,
                "2",
                "repeats row 2 of the same file word for word",
                "duplicate",
            ),
        ),
        raw_delta=2,
    ),
    "ofsted_mi_sheet_renamed": Case(
        "ofsted_children_services_mi",
        _mi_sheet_renamed,
        fails="sheet 'Provider_level_data' not found",
    ),
    "ofsted_mi_name_matches_no_council": Case(
        "ofsted_children_services_mi",
        _mi_unknown_name,
        quarantined=(
            Q(5, "council_name", "council name in register", "Nowhere Borough", NAME_REASON),
        ),
        raw_delta=2,
    ),
    # Adult skills
    "skills_unknown_code_negative_rate_and_england": Case(
        "adult_skills",
        _skills_rows,
        quarantined=(
            Q(3, "council_code", "council code in register", "E07999999", NOT_IN_REGISTER),
            Q(4, "observation", "schema", "-5.0", "greater_than_or_equal_to(0)"),
            Q(
                5,
                "council_code",
                "council code in register",
                "E92000001",
                NOT_A_COUNCIL,
                "out_of_scope",
            ),
        ),
        raw_delta=4,
    ),
    "skills_year_in_the_future": Case(
        "adult_skills",
        _skills_future,
        quarantined=lambda ctx: [
            Q(
                2,
                "period",
                "schema",
                ctx.notes["period"],
                "the academic year has ended by the day the file was loaded",
            )
        ],
        raw_delta=1,
    ),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_services_corpus_case(name, fictional, estate, rs_values, s114_rows, xlsx_cells):
    run_case(CASES[name], fictional, estate, rs_values, s114_rows, xlsx_cells)
