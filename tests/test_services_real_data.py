"""The service-outcome sources on the real shipped files: landed, validated and scored for
2024Q1 and 2026Q3 in one backfill, and briefed.

Expected figures are read here from the published files themselves (the .ods workbooks with
polars' calamine engine, the CSVs with the csv module), never from the pipeline's tables; the
council a row names is found in the register CSV.
"""

from __future__ import annotations

import csv
import math
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from indicator_fixtures import REPO, Run

from assets.briefings import write_briefing
from assets.indicators import SERVICE_OUTCOME_SOURCES
from pipelines.catalogue import load_catalogue

DATA = REPO / "data"
WASTE = DATA / "sources/service_outcomes/waste-data.ods"
ROADS = DATA / "sources/service_outcomes/road-condition-data.ods"
MI = DATA / "sources/service_outcomes/ofsted-data.ods"
ILACS = DATA / "sources/ofsted_ilacs/ofsted_csc_ilacs_history.csv"
REGISTER = DATA / "sources/mysociety_la_codes/uk_local_authorities_current.csv"
SERVICES = list(SERVICE_OUTCOME_SOURCES)
Q1_2024 = date(2024, 3, 31)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not WASTE.is_file(), reason="real data not shipped"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = Run(root=tmp_path_factory.mktemp("services_real"), data_dir=DATA)
    assert run.ingest().success
    assert run.quarters("2024-01-01", "2026-07-01").success
    return run


def sheet(path: Path, name: str, header_row: int) -> pl.DataFrame:
    """A sheet read straight from the workbook, every cell as text, with its spreadsheet row."""
    frame = pl.read_excel(
        path,
        sheet_name=name,
        engine="calamine",
        read_options={"header_row": header_row - 1},
        infer_schema_length=0,
        drop_empty_rows=False,
    )
    return frame.with_row_index("row", offset=header_row + 1)


def register_codes(on: date = Q1_2024) -> dict[str, str]:
    """nice-name (lower case) -> GSS code of the English council of that name in being `on`
    (Somerset: the county until 1 April 2023, the unitary council from then), from the
    register CSV."""
    with REGISTER.open(newline="", encoding="utf-8") as handle:
        return {
            r["nice-name"].lower(): r["gss-code"]
            for r in csv.DictReader(handle)
            if r["nation"] == "England"
            and r["gss-code"]
            and (not r["start-date"] or date.fromisoformat(r["start-date"]) <= on)
            and (not r["end-date"] or date.fromisoformat(r["end-date"]) > on)
        }


# --------------------------------------------------------------------------------------------
# Landing: every raw row accounted for
# --------------------------------------------------------------------------------------------


def test_every_raw_row_is_validated_or_quarantined(real: Run) -> None:
    counts = {}
    for source in SERVICES:
        raw = real.frame(
            f"SELECT count(*) AS n FROM raw.{source} r JOIN raw.current_loads c "
            "ON c.load_id = r.load_id AND c.source_id = ?",
            [source],
        ).item()
        valid = real.frame(f"SELECT count(*) FROM validated.{source}").item()
        quarantined = real.frame(
            "SELECT count(DISTINCT (source_path, source_row_number, source_column)) "
            "FROM validated.quarantine WHERE source_id = ?",
            [source],
        ).item()
        assert raw == valid + quarantined, source
        counts[source] = (raw, valid, quarantined)
    print("\nraw, validated, quarantined:", counts)


def test_raw_rows_match_the_workbooks(real: Run) -> None:
    waste = sheet(WASTE, "Table_3", 4)
    # The table ends at the first row with no year; the release's notes follow.
    first_blank = waste.get_column("Year").is_null().arg_true()[0]
    expected = {("waste_indicators", "waste-data.ods"): first_blank}
    for source, name in (
        ("road_condition_a_roads", "RDC0120_A_Roads_and_Motorways"),
        ("road_condition_b_c_roads", "RDC0120_B_and_C_Roads"),
    ):
        roads = sheet(ROADS, name, 5)
        years = [c for c in roads.columns if c.startswith("FYE ")]
        assert years[0] == "FYE 2008" and years[-1] == "FYE 2025"
        expected[(source, "road-condition-data.ods")] = roads.height * len(years)
    mi = sheet(MI, "Provider_level_data", 3)
    expected[("ofsted_children_services_mi", "ofsted-data.ods")] = mi.height
    loads = real.frame(
        "SELECT source_id, source_path, row_count FROM raw.loads WHERE source_path LIKE '%.ods'"
    )
    assert {
        (r["source_id"], Path(r["source_path"]).name): r["row_count"]
        for r in loads.iter_rows(named=True)
    } == expected


# --------------------------------------------------------------------------------------------
# Values read independently from the files, through to the flags
# --------------------------------------------------------------------------------------------


def test_recycling_rate_of_a_named_council_2022_23(real: Run) -> None:
    waste = sheet(WASTE, "Table_3", 4)
    adur = waste.filter(
        (pl.col("Year") == "2022-23") & (pl.col("Authority") == "Adur District Council")
    )
    assert adur.height == 1
    code = adur.item(0, "ONS code")
    rate = float(adur.item(0, waste.columns[8]))  # "Percentage of household waste sent for ..."
    assert 0 < rate < 1
    validated = real.frame(
        "SELECT household_recycling_rate FROM validated.waste_indicators "
        "WHERE council_code = ? AND financial_year = '2022-23'",
        [code],
    ).item()
    assert validated == pytest.approx(rate)
    # At 31 March 2024, 2022-23 is the latest year public (31 March 2023 + 365 days).
    flag = real.flags("2024Q1").filter(
        (pl.col("council_code") == code) & (pl.col("indicator_id") == "household_recycling_rate")
    )
    assert flag.height == 1
    assert flag.item(0, "period") == "2022-23"
    assert flag.item(0, "value") == pytest.approx(100 * rate)
    assert flag.item(0, "source_row_number") == adur.item(0, "row")


def test_a_road_condition_of_a_named_council(real: Run) -> None:
    roads = sheet(ROADS, "RDC0120_A_Roads_and_Motorways", 5)
    kent = roads.filter(pl.col("Local Authority").str.starts_with("Kent"))
    assert kent.height == 1
    code, percent = kent.item(0, "ONS Area Code"), float(kent.item(0, "FYE 2023"))
    # FYE 2023 was public by 25 January 2024 (31 March 2023 + 300 days); FYE 2024 was not.
    flag = real.flags("2024Q1").filter(
        (pl.col("council_code") == code) & (pl.col("indicator_id") == "road_condition_a_roads_poor")
    )
    assert flag.height == 1
    assert (flag.item(0, "period"), flag.item(0, "value")) == ("2022-23", percent)
    assert flag.item(0, "source_row_number") == kent.item(0, "row")
    # The latest edition (21 January 2026) is public at 2026Q3, with FYE 2025.
    latest = real.flags("2026Q3").filter(
        (pl.col("council_code") == code) & (pl.col("indicator_id") == "road_condition_a_roads_poor")
    )
    assert latest.item(0, "period") == "2024-25"
    assert latest.item(0, "value") == float(kent.item(0, "FYE 2025"))


def _latest_reports(as_of: date) -> dict[str, dict[str, str]]:
    """Each council's latest ILACS report published by `as_of`, from the CSV."""
    latest: dict[str, dict[str, str]] = {}
    with ILACS.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            published = datetime.strptime(record["publication_date"], "%d/%m/%y").date()
            record["published"] = published.isoformat()
            name = record["local_authority"].replace("&", "and")
            if published <= as_of and (
                name not in latest or record["published"] > latest[name]["published"]
            ):
                latest[name] = record
    return latest


def test_an_inadequate_judgement_flags_with_its_report_link(real: Run) -> None:
    codes = register_codes()
    report = _latest_reports(Q1_2024)["havering"]
    assert report["overall_effectiveness_grade"] == "inadequate"
    published = date.fromisoformat(report["published"])
    age_years = (Q1_2024 - published).days / 365.25
    flag = real.flags("2024Q1").filter(
        (pl.col("council_code") == codes["havering"])
        & (pl.col("indicator_id") == "children_services_inadequate")
    )
    assert flag.height == 1
    row = flag.row(0, named=True)
    assert row["flagged"] and row["family"] == "services"
    assert row["value"] == pytest.approx(math.exp(-math.log(2) * age_years / 2))
    assert row["source_url"] == report["inspection_link"]
    assert row["published_date"] == published
    assert row["contribution"] == pytest.approx(1.0 * min(1.0, row["value"]))


def _latest_judgements(as_of: date) -> dict[str, tuple[date, int, str]]:
    """Each council's latest overall judgement published by `as_of`: from the scraped reports
    and from the management information workbook (which grades reports the scrape could not
    read); on the same date a graded report first, then the workbook, then an ungraded report.
    name -> (published, preference, grade)."""
    candidates: list[tuple[str, date, int, str]] = []
    with ILACS.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            grade = record["overall_effectiveness_grade"]
            graded = grade in {"outstanding", "good", "requires improvement", "inadequate"}
            candidates.append(
                (
                    record["local_authority"].replace("&", "and"),
                    datetime.strptime(record["publication_date"], "%d/%m/%y").date(),
                    0 if graded else 2,
                    grade,
                )
            )
    mi = sheet(MI, "Provider_level_data", 3)
    grades = {"1": "outstanding", "2": "good", "3": "requires improvement", "4": "inadequate"}
    for record in mi.iter_rows(named=True):
        if record["Overall effectiveness"] and record["Published date"]:
            candidates.append(
                (
                    record["Name"].lower().replace("&", "and"),
                    date.fromisoformat(record["Published date"][:10]),
                    1,
                    grades[record["Overall effectiveness"]],
                )
            )
    latest: dict[str, tuple[date, int, str]] = {}
    for name, published, preference, grade in candidates:
        if published > as_of:
            continue
        key = (published, -preference)
        if name not in latest or key > (latest[name][0], -latest[name][1]):
            latest[name] = (published, preference, grade)
    return latest


def test_every_latest_inadequate_judgement_is_flagged_and_no_other(real: Run) -> None:
    codes = register_codes()
    flags = real.flags("2024Q1").filter(pl.col("indicator_id") == "children_services_inadequate")
    flagged = set(flags.filter(pl.col("flagged")).get_column("council_code").to_list())
    expected = set()
    for name, (published, _, grade) in _latest_judgements(Q1_2024).items():
        age = (Q1_2024 - published).days / 365.25
        # Flagged while the strength is at least 0.25: within two half-lives (four years).
        if grade == "inadequate" and age <= 4 and name in codes:
            expected.add(codes[name])
    assert expected and flagged == expected


def test_a_report_without_an_overall_grade_is_a_state_not_a_grade(real: Run) -> None:
    codes = register_codes(date(2026, 9, 30))
    no_grade = [
        name
        for name, r in _latest_reports(date(2026, 9, 30)).items()
        if r["overall_effectiveness_grade"] == "not_reported_post_reform" and name in codes
    ]
    assert "somerset" in no_grade  # the unitary council, by the report's date
    flags = real.flags("2026Q3").filter(pl.col("indicator_id") == "children_services_inadequate")
    for name in no_grade:
        row = flags.filter(pl.col("council_code") == codes[name]).row(0, named=True)
        assert row["state"] == "no overall grade (framework from 2026)", name
        assert row["value"] is None and not row["flagged"]


def test_every_ilacs_council_name_is_matched(real: Run) -> None:
    rejected = real.frame(
        "SELECT DISTINCT failure_value FROM validated.quarantine "
        "WHERE source_id = 'ofsted_ilacs' AND column_name = 'council_name'"
    )
    assert rejected.is_empty()
    # "london corporation" (URN 80450) is the City of London Corporation, matched once the
    # register's "City of London Corporation" loses its generic "City of".
    matched = real.frame(
        "SELECT DISTINCT council_code FROM validated.ofsted_ilacs "
        "WHERE source_council_code = 'london corporation'"
    )
    assert matched.rows() == [("E09000001",)]


# --------------------------------------------------------------------------------------------
# The briefing pack links the report
# --------------------------------------------------------------------------------------------


def test_the_pack_links_the_ofsted_report(real: Run) -> None:
    codes = register_codes()
    report = _latest_reports(Q1_2024)["havering"]
    path = write_briefing(real.database, real.out, "2024Q1", codes["havering"])
    html = path.read_text(encoding="utf-8")
    assert f'href="{report["inspection_link"]}"' in html
    assert "Children&#39;s services judged inadequate" in html


def test_catalogue_names_a_download_address_for_every_service_file() -> None:
    for source in SERVICES:
        for file in load_catalogue()[source].files:
            assert file.url and file.url.startswith("https://github.com/"), file.path
            assert (DATA / file.path).is_file()


def test_the_scrape_agrees_with_ofsteds_own_management_information() -> None:
    """Where a scraped report and Ofsted's workbook hold the same judgement (same council,
    publication within three days), the overall grades agree: a check on the scrape, whose
    README asks users to check its figures."""
    scraped: dict[str, list[tuple[date, str]]] = {}
    with ILACS.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            name = record["local_authority"].replace("&", "and")
            published = datetime.strptime(record["publication_date"], "%d/%m/%y").date()
            scraped.setdefault(name, []).append((published, record["overall_effectiveness_grade"]))
    grades = {"1": "outstanding", "2": "good", "3": "requires improvement", "4": "inadequate"}
    compared, disagreements = 0, []
    for record in sheet(MI, "Provider_level_data", 3).iter_rows(named=True):
        if not (record["Overall effectiveness"] and record["Published date"]):
            continue
        published = date.fromisoformat(record["Published date"][:10])
        name = record["Name"].lower().replace("&", "and")
        for when, grade in scraped.get(name, []):
            if abs((when - published).days) <= 3 and grade in grades.values():
                compared += 1
                if grade != grades[record["Overall effectiveness"]]:
                    disagreements.append((name, when, grade))
    assert compared > 100 and not disagreements
