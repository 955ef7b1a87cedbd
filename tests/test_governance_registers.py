"""The governance registers (issue 13): transcribed from public pages, placed in time with
their precision, matched to councils by name, and used point in time.

- On the shipped files, read directly: every transcribed page row is in exactly one register
  row, with its stated date, page and phrase carried over word for word; each placed date
  agrees with its precision.
- On a fictional estate, through Dagster: exceptional financial support makes a council known
  from its decision date and not before; a Best Value Notice is a known case, an event and a
  flag; an unplaceable finding never reaches an indicator or a flag; a governance flag in a
  briefing pack links its page, escaped.
- On the real files, through Dagster (slow): real rows read back from the validated tables.
"""

from __future__ import annotations

import calendar
import csv
import html
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from indicator_fixtures import REPO, C, D, Run, write_hand_estate

from assets.briefings import citation_link, write_briefing
from pipelines.sql import load_sql
from pipelines.synthetic import REGISTER_HEADERS

DATA = REPO / "data" / "sources"
PAGES = DATA / "governance_registers"
REGISTERS = DATA / "registers"
# Register file -> the page transcriptions it holds, and its date and "as stated" columns.
TRANSCRIBED = {
    "audit_findings.csv": (
        ["vfm_significant_weaknesses.csv", "pir_statutory_recs.csv", "audit_timeliness.csv"],
        "finding_date",
        "date_as_stated",
    ),
    "best_value_notices.csv": (["best_value_notices.csv"], "event_date", "date_as_stated"),
    "interventions.csv": (["interventions.csv"], "start_date", "date_or_period"),
    "peer_challenges.csv": (["lga_cpc.csv"], "challenge_date", "date_as_stated"),
}
NAME_COLUMN = {"interventions.csv": "authority"}


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ---- the shipped files ---------------------------------------------------------------------


@pytest.mark.parametrize("register", list(TRANSCRIBED))
def test_every_page_row_is_transcribed_once_word_for_word(register: str) -> None:
    pages, _, stated = TRANSCRIBED[register]
    rows = read(REGISTERS / register)
    by_origin = {r["transcribed_from"]: r for r in rows}
    assert len(by_origin) == len(rows), "two register rows claim one page row"
    expected = set()
    for page in pages:
        # Line numbers as a person sees them (header on line 1): no field spans two lines.
        for line, source in enumerate(read(PAGES / page), start=2):
            origin = f"governance_registers/{page} line {line}"
            expected.add(origin)
            row = by_origin[origin]
            assert row[NAME_COLUMN.get(register, "council_name")] == source["council"]
            assert row[stated] == source["date_or_year"]
            assert row["source_url"] == source["source_url"]
            assert row["exact_phrase"] == source["exact_phrase"]
    assert set(by_origin) == expected, "a register row with no page row behind it"


@pytest.mark.parametrize("register", list(TRANSCRIBED))
def test_placed_dates_agree_with_their_precision(register: str) -> None:
    _, date_column, stated = TRANSCRIBED[register]
    for row in read(REGISTERS / register):
        precision, text = row["date_precision"], row[date_column]
        assert precision in {"day", "month", "year", "unplaceable"}, row["transcribed_from"]
        assert (text == "") == (precision == "unplaceable"), row["transcribed_from"]
        assert row["source_url"].startswith(("https://", "http://"))
        assert row["exact_phrase"].strip()
        if precision == "unplaceable":
            continue
        placed = date.fromisoformat(text)
        assert placed <= date(2025, 3, 1), row["transcribed_from"]
        if precision == "month":  # a month is placed at its last day
            assert placed.day == calendar.monthrange(placed.year, placed.month)[1]
        if precision == "year":
            assert (placed.month, placed.day) == (12, 31)
        # A date the page gives in ISO form is taken as it is; a span, at its last day.
        iso = re.match(r"^(\d{4}-\d{2}-\d{2})\b( to (\d{4}-\d{2}-\d{2}))?", row[stated])
        if iso and precision == "day":
            given = iso.group(3) or iso.group(1)
            assert placed == date.fromisoformat(given), row["transcribed_from"]


def test_support_register_is_the_transcription_shipped_as_it_is() -> None:
    rows = read(REGISTERS / "exceptional_financial_support_2020_2024.csv")
    assert list(rows[0]) == REGISTER_HEADERS["exceptional_financial_support"]
    assert len(rows) == 26
    assert {r["decision_year_page"] for r in rows} == {"2020-21", "2021-22", "2022-23", "2023-24"}
    assert all(r["source_url"].startswith("https://") for r in rows)


def test_only_plain_http_links_are_made() -> None:
    assert citation_link("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "/etc/passwd", "example.org", None):
        assert citation_link(bad) is None
    assert citation_link("https://example.org/a b") is None


# ---- a fictional estate, through Dagster -----------------------------------------------------

SUPPORTED, NAMED, UNPLACED, NOTICED = C[0], D[2], D[3], D[4]
# A page address with characters that must never reach the page unescaped.
HOSTILE_URL = 'https://example.org/pir?x=1&y="><script>alert(1)</script>'


def _append(path: Path, header: list[str], records: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(records)


def write_registers(data_dir: Path) -> None:
    registers = data_dir / "sources" / "registers"
    _append(
        registers / "exceptional_financial_support_2020_2024.csv",
        REGISTER_HEADERS["exceptional_financial_support"],
        [
            {
                "decision_year_page": "2019-20",
                "gss_code": SUPPORTED,
                "authority": "Handton 11",
                "headline_amount_gbp_m": "10.0",
                "support_type": "capitalisation",
                "source_url": "https://example.org/efs-2019-20",
            }
        ],
    )
    finding = {
        "council_code": "",
        "financial_year": "",
        "finding_type": "public_interest_report",
        "exact_phrase": "a report in the public interest (fictional)",
    }
    _append(
        registers / "audit_findings.csv",
        REGISTER_HEADERS["audit_findings"],
        [
            {
                **finding,
                "council_name": "Handton 3 District Council",
                "finding_date": "2019-11-20",
                "date_precision": "day",
                "date_as_stated": "2019-11-20",
                "source_url": HOSTILE_URL,
            },
            {
                **finding,
                "council_name": "Handton 4",
                "finding_date": "",
                "date_precision": "unplaceable",
                "date_as_stated": "published November (year not stated)",
                "source_url": "https://example.org/pir-undated",
            },
        ],
    )
    _append(
        registers / "best_value_notices.csv",
        REGISTER_HEADERS["best_value_notices"],
        [
            {
                "council_code": "",
                "council_name": "Handton 5 Borough Council",
                "event_type": "notice_issued",
                "event_date": "2020-01-31",
                "date_precision": "month",
                "date_as_stated": "2020-01",
                "source_url": "https://example.org/bvn",
                "exact_phrase": "a Best Value Notice (fictional)",
            }
        ],
    )


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("governance")
    data_dir = root / "data"
    write_hand_estate(data_dir)
    write_registers(data_dir)
    run = Run(root=root, data_dir=data_dir)
    assert run.ingest().success
    assert run.quarters("2019-10-01", "2020-01-01").success
    return run


def _watch(run: Run, quarter: str, council: str) -> dict:
    return run.watchlist(quarter).filter(pl.col("council_code") == council).row(0, named=True)


def test_named_rows_are_matched_and_placed(governed: Run) -> None:
    found = governed.frame(
        "SELECT council_code, code_resolved_by, finding_date, date_precision "
        "FROM validated.audit_findings ORDER BY source_row_number"
    ).rows()
    assert found == [
        (NAMED, "name (generic words set aside)", date(2019, 11, 20), "day"),
        (UNPLACED, "name", None, "unplaceable"),
    ]


def test_support_makes_a_council_known_from_its_decision_date_not_before(governed: Run) -> None:
    before = _watch(governed, "2019Q4", SUPPORTED)
    assert not before["known_case"] and before["rank"] is not None
    after = _watch(governed, "2020Q1", SUPPORTED)  # as of 2020-03-31, the decision year's end
    assert after["known_case"] and after["rank"] is None
    assert "exceptional financial support 2019-20" in after["known_case_reason"]


def test_a_best_value_notice_is_a_known_case_and_a_flag_citing_its_page(governed: Run) -> None:
    assert not _watch(governed, "2019Q4", NOTICED)["known_case"]
    after = _watch(governed, "2020Q1", NOTICED)
    assert after["known_case"] and "notice issued 2020-01-31" in after["known_case_reason"]
    flag = (
        governed.partition("flags", "2020Q1")
        .filter(
            (pl.col("council_code") == NOTICED) & (pl.col("indicator_id") == "best_value_notice")
        )
        .row(0, named=True)
    )
    assert flag["flagged"] and flag["source_url"] == "https://example.org/bvn"
    # Two months old at the as-of date, half-life one year: 2 ** (-60 / 365.25).
    assert flag["value"] == pytest.approx(2 ** (-60 / 365.25))


def test_an_unplaceable_finding_never_reaches_an_indicator_or_a_flag(governed: Run) -> None:
    for quarter in ("2019Q4", "2020Q1"):
        values = governed.values(quarter)
        assert (
            values.filter(pl.col("council_code") == UNPLACED)
            .filter(pl.col("indicator_id") == "public_interest_report")
            .is_empty()
        )
        flag = (
            governed.partition("flags", quarter)
            .filter(
                (pl.col("council_code") == UNPLACED)
                & (pl.col("indicator_id") == "public_interest_report")
            )
            .row(0, named=True)
        )
        assert flag["state"] == "no finding recorded" and not flag["flagged"]
    placed = governed.values("2019Q4").filter(
        (pl.col("council_code") == NAMED) & (pl.col("indicator_id") == "public_interest_report")
    )
    assert placed.height == 1


def test_events_include_support_and_notices_but_nothing_unplaced(governed: Run) -> None:
    events = governed.frame(load_sql("backtest/known_case_events")).rows()
    assert (SUPPORTED, date(2020, 3, 31), "exceptional financial support") in events
    assert (NOTICED, date(2020, 1, 31), "best value notice") in events
    assert not [e for e in events if e[0] == UNPLACED]


def test_a_governance_flag_in_a_pack_links_its_page_escaped(governed: Run) -> None:
    pack = write_briefing(governed.database, governed.out, "2019Q4", NAMED).read_text(
        encoding="utf-8"
    )
    assert "<script>alert(1)" not in pack
    links = re.findall(r'<a class="citation" href="([^"]*)"', pack)
    # One flag: linked from its sentence and from the evidence table.
    assert [html.unescape(link) for link in links] == [HOSTILE_URL, HOSTILE_URL]
    assert "a report in the public interest (fictional)" in pack


# ---- the real files, through Dagster ------------------------------------------------------------


@pytest.mark.slow
def test_real_register_rows_read_back_from_the_validated_tables(tmp_path: Path) -> None:
    run = Run(root=tmp_path, data_dir=REPO / "data")
    assert run.ingest().success
    thurrock = run.frame(
        "SELECT council_code, start_date, start_date_precision FROM validated.interventions "
        "WHERE council_name = 'Thurrock Council' AND date_or_period = '2022-09-02'"
    ).rows()
    assert thurrock == [("E06000034", date(2022, 9, 2), "day")]
    kings_lynn = run.frame(
        "SELECT council_code, challenge_date FROM validated.peer_challenges "
        "WHERE council_name LIKE 'Borough Council of King%'"
    ).rows()
    assert kings_lynn == [("E07000146", date(2023, 10, 19))]
    # Every unplaceable page row is kept, with no date.
    pages = read(REGISTERS / "audit_findings.csv")
    unplaceable = sum(r["date_precision"] == "unplaceable" for r in pages)
    kept = run.frame(
        "SELECT count(*) AS n FROM validated.audit_findings "
        "WHERE date_precision = 'unplaceable' AND finding_date IS NULL"
    ).item()
    # (The one combined authority's row, out of scope below, has a placed date.)
    assert kept == unplaceable
    # Combined authorities are out of scope, with the reason, not lost.
    out = run.frame(
        "SELECT source_id, count(*) AS n FROM validated.quarantine WHERE source_id IN "
        "('audit_findings', 'best_value_notices') GROUP BY ALL ORDER BY 1"
    ).rows()
    assert out == [("audit_findings", 1), ("best_value_notices", 3)]
    croydon = run.frame(
        "SELECT decision_date, date_precision FROM validated.exceptional_financial_support "
        "WHERE council_code = 'E09000008' AND decision_year = '2020-21'"
    ).rows()
    assert croydon == [(date(2021, 3, 31), "year")]
