"""The watchlist on the real embedded data (repo data/, read only), every quarter 2016-2023
materialised in one single-run backfill into a temporary warehouse and output directory.

Expectations come from the source files themselves (the register CSV, the section 114 and
intervention registers, the Revenue Outturn workbooks read from their XML), never from the
pipeline's own tables.
"""

from __future__ import annotations

import csv
import re
from datetime import date

import polars as pl
import pytest
from indicator_fixtures import (
    REPO,
    RESERVES_INDICATORS,
    Run,
    assert_flags_follow_their_method,
    assert_watchlist_explained,
    row,
    xlsx_rows,
)

from checks.outputs import WATCHLIST_ARROW_SCHEMA
from pipelines.catalogue import load_catalogue
from pipelines.partitions import as_of_date, partition_key_for

DATA = REPO / "data"
FIRST, LAST = "2016-01-01", "2023-10-01"
QUARTERS = [f"{year}Q{q}" for year in range(2016, 2024) for q in range(1, 5)]
COUNCIL_TYPES = {"CTY", "NMD", "UA", "MD", "LBO", "CC"}
NORTHAMPTONSHIRE, CROYDON = "E10000021", "E09000008"
RS_2017_18 = "sources/bbc_council_reserves/RS_2017-18_data_by_LA_PRENOV.xlsx"

pytestmark = pytest.mark.skipif(
    not (DATA / "sources" / "mysociety_la_codes").is_dir(), reason="real data not shipped"
)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = Run(root=tmp_path_factory.mktemp("real_watchlist"), data_dir=DATA)
    assert run.ingest().success
    result = run.quarters(FIRST, LAST)
    assert result.success
    # One run, one step per asset, covering all 32 quarters.
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert sorted(steps) == [
        "indicators__indicator_values",
        "scores__indicator_scores",
        "watchlist__watchlist",
    ]
    watchlist_events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "watchlist/watchlist"
    ]
    assert sorted(e.partition for e in watchlist_events) == [partition_key_for(q) for q in QUARTERS]
    return run


@pytest.fixture(scope="module")
def watchlists(real: Run) -> pl.DataFrame:
    return pl.scan_parquet(real.out / "watchlist", hive_partitioning=True).collect()


@pytest.fixture(scope="module")
def flags(real: Run) -> pl.DataFrame:
    return pl.scan_parquet(real.out / "flags", hive_partitioning=True).collect()


def read_csv(relative: str) -> list[dict[str, str]]:
    with (DATA / relative).open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def councils_in_being(as_of: date) -> set[str]:
    """English principal councils existing on `as_of`, from the register CSV."""
    found = set()
    for r in read_csv("sources/mysociety_la_codes/uk_local_authorities_current.csv"):
        if r["nation"] != "England" or r["local-authority-type"] not in COUNCIL_TYPES:
            continue
        if not re.fullmatch(r"E(06|07|08|09|10)\d{6}", r["gss-code"]):
            continue
        start = date.fromisoformat(r["start-date"]) if r["start-date"] else None
        end = date.fromisoformat(r["end-date"]) if r["end-date"] else None
        if (start is None or start <= as_of) and (end is None or end >= as_of):
            found.add(r["gss-code"])
    return found


def test_every_quarter_has_one_row_per_council_in_being(watchlists: pl.DataFrame) -> None:
    assert sorted(watchlists.get_column("quarter").unique()) == QUARTERS
    for quarter in QUARTERS:
        as_of = as_of_date(partition_key_for(quarter))
        rows = watchlists.filter(pl.col("quarter") == quarter)
        codes = rows.get_column("council_code").to_list()
        assert len(codes) == len(set(codes)), quarter
        assert set(codes) == councils_in_being(as_of), quarter
    # The 2019 reorganisation (Dorset, Suffolk, Somerset West and Taunton) took effect on
    # 1 April 2019: 2019Q1 still has the old councils.
    assert len(councils_in_being(date(2019, 3, 31))) > len(councils_in_being(date(2019, 6, 30)))
    q1 = watchlists.filter(pl.col("quarter") == "2019Q1")
    assert q1.height == len(councils_in_being(date(2019, 3, 31)))


def expected_known(as_of: date) -> set[str]:
    """Councils with a section 114 notice in the three years to `as_of`, from the register."""
    known = set()
    for r in read_csv("sources/registers/section114_notices.csv"):
        notice = date.fromisoformat(r["notice_date"])
        if as_of.replace(year=as_of.year - 3) < notice <= as_of:
            known.add(r["gss_code"])
    return known


INTERVENTION_OR_NOTICE = (
    r"(?i)statutory intervention|best value|commissioners|notice (issued|reissued|published)"
)


def expected_support(as_of: date) -> set[str]:
    """Councils whose exceptional financial support decision year ended in the three years to
    `as_of`, from the register."""
    known = set()
    for r in read_csv("sources/registers/exceptional_financial_support_2020_2024.csv"):
        year_end = date(int(r["decision_year_page"][:4]) + 1, 3, 31)
        if as_of.replace(year=as_of.year - 3) < year_end <= as_of:
            known.add(r["gss_code"])
    return known


def test_known_cases_are_marked_with_a_reason_and_no_rank(watchlists: pl.DataFrame) -> None:
    northamptonshire = row(watchlists, quarter="2018Q3", council_code=NORTHAMPTONSHIRE)
    assert northamptonshire["known_case"]
    assert northamptonshire["rank"] is None and northamptonshire["known_case_rank"] >= 1
    assert "section 114 notice 2018-02-02" in northamptonshire["known_case_reason"]
    assert "section 114 notice 2018-07-24" in northamptonshire["known_case_reason"]
    # Before its first notice (as of 2017-12-31) it was ranked with everyone else.
    before = row(watchlists, quarter="2017Q4", council_code=NORTHAMPTONSHIRE)
    assert not before["known_case"] and before["rank"] >= 1

    croydon = row(watchlists, quarter="2021Q1", council_code=CROYDON)
    assert croydon["known_case"] and croydon["rank"] is None
    assert "section 114 notice 2020-11-11" in croydon["known_case_reason"]
    assert not row(watchlists, quarter="2020Q3", council_code=CROYDON)["known_case"]

    interventions = {r["gss_code"] for r in read_csv("sources/registers/interventions_seen.csv")}
    for quarter in QUARTERS:
        rows = watchlists.filter(pl.col("quarter") == quarter)
        known = set(rows.filter(pl.col("known_case")).get_column("council_code"))
        in_being = set(rows.get_column("council_code"))
        as_of = as_of_date(partition_key_for(quarter))
        notices = expected_known(as_of) & in_being
        assert notices <= known, quarter
        # Exceptional financial support: known for three years from the end of the decision
        # year (the pages state no day), read from the register itself.
        support = expected_support(as_of) & in_being
        assert support <= known, quarter
        # Anyone else is known through a statutory intervention or a Best Value Notice, and
        # says so (those registers name councils; their codes come from the name lookup).
        for r in rows.filter(pl.col("council_code").is_in(list(known - notices - support))).rows(
            named=True
        ):
            assert r["council_code"] in interventions or re.search(
                INTERVENTION_OR_NOTICE, r["known_case_reason"]
            ), (quarter, r["council_code"], r["known_case_reason"])
        assert rows.filter(pl.col("known_case")).get_column("rank").is_null().all()
        assert rows.filter(pl.col("known_case")).get_column("known_case_rank").is_not_null().all()
        assert rows.filter(pl.col("known_case")).get_column("known_case_reason").is_not_null().all()
        assert rows.filter(~pl.col("known_case")).get_column("rank").is_not_null().all()


def test_every_score_is_the_sum_of_its_contributions(
    watchlists: pl.DataFrame, flags: pl.DataFrame
) -> None:
    assert assert_watchlist_explained(watchlists, flags) == watchlists.height


def test_every_flag_follows_its_method(flags: pl.DataFrame) -> None:
    assert assert_flags_follow_their_method(flags) > 10_000


def test_scored_reserves_flags_cite_their_source_row(flags: pl.DataFrame) -> None:
    scored = flags.filter(
        pl.col("indicator_id").is_in(RESERVES_INDICATORS) & (pl.col("state") == "scored")
    )
    assert scored.height > 1000
    assert scored.get_column("source_path").is_not_null().all()
    assert scored.get_column("source_row_number").is_not_null().all()
    # Revenue Outturn workbooks (.xlsx from 2015-16, .xls before) and, for the total of
    # usable reserves from 2018-19, the finance metrics JSON.
    catalogue = load_catalogue()
    assert set(scored.get_column("source_path")) <= {
        f.path
        for source in ("revenue_outturn", "la_finance_metrics")
        for f in catalogue[source].files
    }


def test_reserves_values_recompute_from_the_cited_workbook_row(flags: pl.DataFrame) -> None:
    """2019Q1's unallocated reserves % NRE, recomputed from the 2017-18 workbook row each flag
    cites (read from the sheet's XML): the row is the council's, and the value is
    100 x unallocated reserves at 31 March / net revenue expenditure."""
    rows = xlsx_rows(DATA / RS_2017_18, "RS LA Data 2017-18")
    header = {str(text).strip().lower(): column for column, text in rows[7].items()}
    ons = header["ons code"]
    nre = header["net revenue expenditure"]
    unallocated = header["estimated unallocated financial reserves level at 31 march"]
    cited = flags.filter(
        (pl.col("quarter") == "2019Q1")
        & (pl.col("indicator_id") == "unallocated_reserves_pct_nre")
        & (pl.col("state") == "scored")
    )
    assert cited.height > 300
    matched_code = 0
    for flag in cited.iter_rows(named=True):
        assert flag["source_path"] == RS_2017_18
        cells = rows[flag["source_row_number"]]
        matched_code += cells[ons] == flag["council_code"]
        expected = 100 * float(cells[unallocated]) / float(cells[nre])
        assert flag["value"] == pytest.approx(expected), flag["council_code"]
        assert flag["period"] == "2017-18" and flag["published_date"] == date(2018, 11, 16)
    # A few rows carry a council's older code (resolved through the register): most match.
    assert matched_code >= 0.95 * cited.height


def test_watchlist_parquet_has_the_documented_columns(real: Run) -> None:
    frame = pl.scan_parquet(real.out / "watchlist", hive_partitioning=True)
    assert sorted(frame.collect_schema().names()) == sorted(
        [*WATCHLIST_ARROW_SCHEMA.names, "quarter"]
    )
