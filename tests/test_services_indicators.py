"""The service-outcome indicators on the hand estate (fictional councils), worked by hand:
household waste and road condition against peers, the children's services event with its
decay, its end when a re-inspection lifts the grade, and the states that stand in for a grade;
point in time (a year, or a report, not yet public is not seen); and the pack's report link.

Every figure here is made up and chosen in this file; expected values are computed here from
these inputs, never read from the pipeline's output.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from indicator_fixtures import (
    COUNTIES,
    DISTRICTS,
    Q_AS_OF,
    Q_KEY,
    Q_LABEL,
    Run,
    assert_flags_follow_their_method,
    catalogue_entries,
    judge_peer,
    row,
    write_hand_estate,
)

from assets.briefings import citation_link, write_briefing
from pipelines.synthetic import ROAD_YEARS, write_service_outcomes

CATALOGUE = catalogue_entries()
# Recycling rates (fractions, as DEFRA publishes them) for 2017-18, public by 31 March 2019
# (31 March 2018 + 365 days): D1 recycles far less than its neighbours D2..D7.
RECYCLING_2017 = [0.18, 0.40, 0.42, 0.44, 0.41, 0.43, 0.39, 0.45]
# 2018-19 is not public at 31 March 2019: D1's better figure must not be seen.
RECYCLING_2018 = [0.50, 0.40, 0.42, 0.44, 0.41, 0.43, 0.39, 0.45]
RESIDUAL_KG = [520.0, 510.0, 500.0, 530.0, 505.0, 515.0, 525.0, 495.0]
# A-road condition (% where maintenance should be considered) for counties C1..C6, FYE 2018
# (public by 25 January 2019): C2 is [y] (unrepresentative) that year.
ROADS_FYE_2018 = [9, "[y]", 4, 5, 3, 4]


def _link(n: int) -> str:
    return f"https://example.org/fictional-ofsted-report/{n}"


# (county index, publication date, overall grade): C1 inadequate nine months before the
# as-of date; C2 inadequate in 2016 then good in 2018 (the flag ends); C3 a report whose grade
# the scrape did not read; C4 inadequate only after the as-of date (not yet public); C5
# requires improvement; C6 has no scraped report.
REPORTS = [
    (0, "30/06/18", "inadequate"),
    (1, "15/01/16", "inadequate"),
    (1, "01/06/18", "good"),
    (2, "01/02/18", "data_unreadable"),
    (3, "01/05/19", "inadequate"),
    (4, "01/09/17", "requires improvement"),
]


def _ilacs_rows() -> list[list[str]]:
    rows = []
    for n, (county, published, grade) in enumerate(REPORTS):
        rows.append(
            [
                "900000",
                COUNTIES[county].name.lower(),
                _link(n),
                "children's services inspection - fictional.pdf",
                published,
                "standard",
                "A Fictional Inspector",
                "",
                "",
                grade,
                grade,
                grade,
                grade,
                "inspection_pre_dates_judgement",
                "1",
            ]
        )
    return rows


def _mi_row(county: int, snapshot: str, published: str, grade: int) -> list[object]:
    name = COUNTIES[county].name
    return [
        "None",
        name,
        "2023-07-12T00:00:00",
        "OS",
        "Children's social care",
        f"{snapshot}T00:00:00",
        f"{published}T00:00:00",
        "South East",
        name,
        "Not available",
        "Local authority",
        "Single Inspection Framework",
        "Local authority",
        "Not available",
        grade,
        grade,
        grade,
        grade,
        9,
    ]


# Ofsted's management information gives the grade the scrape could not read: C3's report of
# 1 February 2018 was inadequate (in two snapshots: the first is cited); C6's report of
# 1 March 2017 was good.
MI_ROWS = [
    _mi_row(2, "2018-03-31", "2018-02-01", 4),
    _mi_row(2, "2019-03-31", "2018-02-01", 4),
    _mi_row(5, "2018-03-31", "2017-03-01", 2),
]


def _waste_rows() -> list[list[object]]:
    rows = []
    for year, rates in (("2017-18", RECYCLING_2017), ("2018-19", RECYCLING_2018)):
        for council, rate, kg in zip(DISTRICTS, rates, RESIDUAL_KG, strict=True):
            rows.append(
                [
                    year,
                    "South East",
                    council.gss_code,
                    1,
                    council.name,
                    "Collection",
                    kg,
                    rate,
                    None,
                    400.0,
                ]
            )
    # A county's own figures (as a disposal authority) are landed, never scored.
    county = COUNTIES[0]
    rows.append(
        [
            "2017-18",
            "South East",
            county.gss_code,
            2,
            county.name,
            "Disposal",
            600.0,
            0.05,
            0.2,
            420.0,
        ]
    )
    return rows


def _road_rows() -> list[list[object]]:
    rows = []
    for council, value in zip(COUNTIES, ROADS_FYE_2018, strict=True):
        cells = [value if y == 2018 else 4 for y in ROAD_YEARS]
        rows.append([council.gss_code, "South East", council.name, *cells, "[z]"])
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("services_hand")
    run = Run(root=root, data_dir=root / "data")
    write_hand_estate(run.data_dir)
    write_service_outcomes(
        run.data_dir,
        waste=_waste_rows(),
        roads_a=_road_rows(),
        ilacs=_ilacs_rows(),
        ofsted_mi=MI_ROWS,
    )
    assert run.ingest().success
    assert run.quarter(Q_KEY).success
    return run


@pytest.fixture(scope="module")
def flags(run: Run) -> pl.DataFrame:
    return run.flags(Q_LABEL)


def test_recycling_rate_judged_against_neighbours_by_hand(flags: pl.DataFrame) -> None:
    entry = CATALOGUE["household_recycling_rate"]
    peers = [100 * r for r in RECYCLING_2017[1:7]]  # D1's published neighbours D2..D7
    expected = judge_peer(
        100 * RECYCLING_2017[0], peers, entry["polarity"], entry["threshold"], entry["weight"]
    )
    got = row(flags, council_code=DISTRICTS[0].gss_code, indicator_id="household_recycling_rate")
    assert got["period"] == "2017-18"  # 2018-19 was not public at 31 March 2019
    assert got["value"] == pytest.approx(100 * RECYCLING_2017[0])
    assert got["previous_value"] is None
    assert got["peer_median"] == pytest.approx(expected["peer_median"])
    assert got["robust_z"] == pytest.approx(expected["robust_z"])
    assert expected["flagged"] and got["flagged"]
    assert got["contribution"] == pytest.approx(expected["contribution"])
    assert got["family"] == "services" and got["source_row_number"] == 5


def test_waste_indicators_apply_to_collection_authorities_only(flags: pl.DataFrame) -> None:
    waste = flags.filter(pl.col("indicator_id").is_in(["household_recycling_rate"]))
    assert set(waste.get_column("council_code")) >= {c.gss_code for c in DISTRICTS}
    assert not set(waste.get_column("council_code")) & {c.gss_code for c in COUNTIES}


def test_road_condition_by_hand_and_its_states(flags: pl.DataFrame) -> None:
    entry = CATALOGUE["road_condition_a_roads_poor"]
    c1 = row(flags, council_code=COUNTIES[0].gss_code, indicator_id="road_condition_a_roads_poor")
    # C1's neighbours are the other counties; C2's [y] is no value, so four peers remain,
    # fewer than the five the catalogue asks for: the comparison falls back to all counties
    # of the estate with a value, which are the same four.
    assert c1["period"] == "2017-18" and c1["value"] == 9
    assert c1["state"] == "too few peers"
    c2 = row(flags, council_code=COUNTIES[1].gss_code, indicator_id="road_condition_a_roads_poor")
    assert c2["state"] == "unrepresentative (insufficient survey coverage or data-quality issues)"
    assert c2["value"] is None and not c2["flagged"]
    assert entry["applies_to"] == ["county", "unitary", "metropolitan district", "london borough"]


def test_children_services_event_by_hand(flags: pl.DataFrame) -> None:
    entry = CATALOGUE["children_services_inadequate"]
    judged = {
        c.gss_code: row(flags, council_code=c.gss_code, indicator_id="children_services_inadequate")
        for c in COUNTIES
    }
    c1 = judged[COUNTIES[0].gss_code]
    age = (Q_AS_OF - date(2018, 6, 30)).days / 365.25
    strength = math.exp(-math.log(2) * age / entry["half_life_years"])
    assert c1["value"] == pytest.approx(strength) and c1["flagged"]
    assert c1["contribution"] == pytest.approx(entry["weight"] * min(1.0, strength))
    assert c1["source_url"] == _link(0) and c1["period"] == "2018-06-30"
    # Re-inspected and judged good: the earlier inadequate judgement no longer counts.
    c2 = judged[COUNTIES[1].gss_code]
    assert (c2["state"], c2["value"], c2["flagged"]) == ("scored", 0.0, False)
    assert c2["source_url"] == _link(2)
    # The scrape could not read C3's report; the management information gives its grade.
    c3 = judged[COUNTIES[2].gss_code]
    age = (Q_AS_OF - date(2018, 2, 1)).days / 365.25
    assert c3["flagged"] and c3["source_url"] is None
    assert c3["value"] == pytest.approx(math.exp(-math.log(2) * age / entry["half_life_years"]))
    assert c3["source_path"].endswith("ofsted-data.ods") and c3["source_row_number"] == 4
    # Published after the as-of date: not seen.
    assert judged[COUNTIES[3].gss_code]["state"] == "no finding recorded"
    assert (judged[COUNTIES[4].gss_code]["value"], judged[COUNTIES[4].gss_code]["flagged"]) == (
        0.0,
        False,
    )
    c6 = judged[COUNTIES[5].gss_code]
    assert (c6["state"], c6["value"], c6["period"]) == ("scored", 0.0, "2017-03-01")
    assert_flags_follow_their_method(flags)


def test_the_pack_links_the_report_and_refuses_other_links(run: Run, tmp_path: Path) -> None:
    path = write_briefing(run.database, run.out, Q_LABEL, COUNTIES[0].gss_code)
    html = path.read_text(encoding="utf-8")
    assert f'href="{_link(0)}"' in html
    assert html.count('class="citation"') == 2  # the sentence and the evidence table
    assert "published on 30 June 2018, was inadequate overall" in html
    assert citation_link("javascript:alert(1)") is None
    assert citation_link("https://example.org/a page") is None
    assert citation_link(None) is None
    assert citation_link(" https://example.org/r/1 ") == "https://example.org/r/1"
