"""Briefing packs: the index page of each quarter's watchlist and one HTML page per council.

A small fictional estate (pipelines.synthetic) is ingested once, then the quarterly assets and
the briefing packs are materialised twice, as an operator would: one single-run backfill over
2018Q1-2018Q4 (index pages for every quarter, packs for the latest only), then 2019Q1 alone with
`top_n` set. Expected values are read independently from the published Parquet (watchlist and
flags) with polars, and the pages are parsed with the standard library's HTML parser.
"""

import base64
import dataclasses
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.briefings import (
    BRIEFINGS_KEY,
    NEUTRAL_NOTICE,
    BriefingError,
    briefing_packs,
    write_briefing,
    write_quarter_briefings,
)
from pipelines.definitions import ingest_assets, quarterly_assets
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import make_estate, write_estate

SEED = 7
SCALE = 0.05
TOP_N = 3
BACKFILL = ("2018-01-01", "2018-10-01")  # 2018Q1 to 2018Q4 in one run
BACKFILL_QUARTERS = ["2018Q1", "2018Q2", "2018Q3", "2018Q4"]
LATEST = "2019-01-01"
LATEST_QUARTER = "2019Q1"
# One fictional council gets a name full of HTML syntax: every page must show it as text.
AWKWARD_INDEX = 5
AWKWARD_NAME = 'Exampleham <b>6</b> & "Sons"'
CHART_PREFIX = "data:image/svg+xml;base64,"


@dataclass(frozen=True)
class Built:
    root: Path
    database: Path
    output_dir: Path
    backfill: dg.ExecuteInProcessResult
    latest: dg.ExecuteInProcessResult

    def folder(self, quarter: str) -> Path:
        return self.output_dir / "briefings" / f"quarter={quarter}"

    def watchlist(self, quarter: str) -> pl.DataFrame:
        return pl.read_parquet(self.output_dir / "watchlist" / f"quarter={quarter}")

    def flags(self, quarter: str) -> pl.DataFrame:
        return pl.read_parquet(self.output_dir / "flags" / f"quarter={quarter}")

    def page(self, quarter: str, name: str) -> str:
        return (self.folder(quarter) / name).read_text(encoding="utf-8")


def build_briefings(root: Path, top_n: int = TOP_N) -> Built:
    """Ingest a fictional estate, then build 2018Q1-2018Q4 (one run) and 2019Q1 with packs."""
    estate = make_estate(scale=SCALE, seed=SEED)
    awkward = estate.councils[AWKWARD_INDEX]
    estate.councils[AWKWARD_INDEX] = dataclasses.replace(awkward, name=AWKWARD_NAME)
    write_estate(root / "data", estate, seed=SEED)
    database, output_dir = root / "warehouse.duckdb", root / "output"
    resources = {
        "warehouse": Warehouse(database=str(database)),
        "source_files": SourceFiles(data_dir=str(root / "data")),
        "parquet_outputs": ParquetOutputs(output_dir=str(output_dir)),
    }
    dg.materialize(ingest_assets, resources=resources)
    # Whether or not the code location lists briefing_packs among its quarterly assets.
    assets = [a for a in quarterly_assets if BRIEFINGS_KEY not in a.keys] + [briefing_packs]
    backfill = dg.materialize(
        assets,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": BACKFILL[0],
            "dagster/asset_partition_range_end": BACKFILL[1],
        },
    )
    latest = dg.materialize(
        assets,
        resources=resources,
        partition_key=LATEST,
        run_config={"ops": {"watchlist__briefing_packs": {"config": {"top_n": top_n}}}},
    )
    return Built(root, database, output_dir, backfill, latest)


_BUILDS: dict[str, Built] = {}


def shared_build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One build per test session, shared with tests/test_briefings_browser.py (no test
    changes it: pages written on demand go to each test's own folder)."""
    if "built" not in _BUILDS:
        _BUILDS["built"] = build_briefings(tmp_path_factory.mktemp("briefings"))
    return _BUILDS["built"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return shared_build(tmp_path_factory)


# --------------------------------------------------------------------------------------------
# Reading pages
# --------------------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """Rows of tables (their data- attributes), images, links, scripts and section text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.scripts = 0
        self.stylesheets: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self.title = ""
        self._in_title = False
        self.gap_items: dict[str, list[str]] = {}
        self._gap_state: str | None = None
        self._text: list[str] = []

    @property
    def full_text(self) -> str:
        """Every text node of the page, character references decoded, spaces collapsed."""
        return " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-council" in values:
            self.rows.append(values)
        elif tag == "img":
            self.images.append(values)
        elif tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.stylesheets.append(values.get("href", ""))
        elif tag == "h2":
            self._section = values.get("id")
            self.sections.setdefault(self._section or "", [])
        elif tag == "section" and "data-state" in values:
            self._gap_state = values["data-state"]
        elif tag == "li" and self._gap_state and "data-indicator" in values:
            self.gap_items.setdefault(self._gap_state, []).append(values["data-indicator"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._gap_state = None
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._in_title:
            self.title += data
        if self._section is not None:
            self.sections[self._section].append(data)

    def text(self, section: str) -> str:
        return " ".join(" ".join(self.sections.get(section, [])).split())


def parse(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def pack_councils(built: Built, quarter: str) -> list[str]:
    return sorted(p.stem for p in built.folder(quarter).glob("E*.html"))


def expected_top(built: Built, quarter: str, top_n: int) -> list[str]:
    """The top N, read from the watchlist Parquet: not known, flagged, in rank order."""
    return (
        built.watchlist(quarter)
        .filter(~pl.col("known_case") & (pl.col("n_flags") > 0))
        .sort("rank", "council_code")
        .head(top_n)
        .get_column("council_code")
        .to_list()
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == BRIEFINGS_KEY]
    assert events, "briefing_packs was not materialised"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


# --------------------------------------------------------------------------------------------
# The asset
# --------------------------------------------------------------------------------------------


def test_backfill_writes_every_index_but_packs_only_for_its_latest_quarter(built: Built) -> None:
    assert built.backfill.success
    for quarter in BACKFILL_QUARTERS:
        assert (built.folder(quarter) / "index.html").is_file(), quarter
    for quarter in BACKFILL_QUARTERS[:-1]:
        assert pack_councils(built, quarter) == [], quarter
    assert pack_councils(built, "2018Q4") == sorted(expected_top(built, "2018Q4", 10))
    meta = metadata(built.backfill)
    assert meta["latest_quarter"] == "2018Q4"
    assert meta["quarters"] == ", ".join(BACKFILL_QUARTERS)
    assert meta["index_path"] == str(built.folder("2018Q4") / "index.html")


def test_latest_run_writes_top_n_packs_and_reports_them(built: Built) -> None:
    assert built.latest.success
    top = expected_top(built, LATEST_QUARTER, TOP_N)
    assert len(top) == TOP_N, "the fixture should flag more councils than TOP_N"
    assert pack_councils(built, LATEST_QUARTER) == sorted(top)
    meta = metadata(built.latest)
    assert meta["packs"] == TOP_N
    assert meta["councils"] == top
    assert meta["index_path"] == str(built.folder(LATEST_QUARTER) / "index.html")
    assert not list(built.folder(LATEST_QUARTER).glob(".*")), "temporary files left behind"


@pytest.mark.parametrize("quarter", ["2018Q1", "2018Q4", LATEST_QUARTER])
def test_index_lists_every_council_in_rank_order_with_bands(built: Built, quarter: str) -> None:
    watchlist = built.watchlist(quarter)
    page = parse(built.page(quarter, "index.html"))
    ranked = watchlist.filter(~pl.col("known_case")).sort("rank", "council_code")
    known = watchlist.filter(pl.col("known_case")).sort("known_case_rank", "council_code")
    listed = [(r["data-council"], r["data-band"]) for r in page.rows]
    expected = list(zip(ranked["council_code"], ranked["risk_band"], strict=True)) + list(
        zip(known["council_code"], known["risk_band"], strict=True)
    )
    assert listed == expected
    assert [int(r["data-rank"]) for r in page.rows if "data-rank" in r] == ranked["rank"].to_list()
    assert len(page.rows) == watchlist.height
    text = page.text("ranked")
    for band in ranked["risk_band"].unique():
        assert band in text
    packs = {f"{code}.html" for code in pack_councils(built, quarter)}
    assert {link for link in page.links if link.endswith(".html")} == packs
    assert quarter in page.title


def test_known_cases_are_listed_apart_on_the_index(built: Built) -> None:
    known = built.watchlist(LATEST_QUARTER).filter(pl.col("known_case"))
    assert known.height >= 1, "the fictional estate has a section 114 notice"
    text = parse(built.page(LATEST_QUARTER, "index.html")).text("known")
    for row in known.iter_rows(named=True):
        assert row["council_code"] in text
        assert row["known_case_reason"] in text


# --------------------------------------------------------------------------------------------
# The packs
# --------------------------------------------------------------------------------------------


def test_each_pack_explains_every_flag_as_published(built: Built) -> None:
    flags = built.flags(LATEST_QUARTER)
    watchlist = built.watchlist(LATEST_QUARTER)
    for code in pack_councils(built, LATEST_QUARTER):
        text = built.page(LATEST_QUARTER, f"{code}.html")
        council = watchlist.filter(pl.col("council_code") == code).row(0, named=True)
        page = parse(text)
        assert council["council_name"] in page.full_text
        assert NEUTRAL_NOTICE in page.full_text
        why = page.text("why")
        flagged = flags.filter((pl.col("council_code") == code) & pl.col("flagged"))
        assert flagged.height == council["n_flags"] > 0
        for row in flagged.iter_rows(named=True):
            assert row["indicator_name"] in page.full_text
            # exact values in the evidence table, as the Parquet holds them
            assert f'data-value="{row["value"]}"' in text
            assert f'data-value="{row["peer_median"]}"' in text
            # and as a reader sees them, in the sentence and the table
            assert f"{row['value']:.1f}" in why
            assert f"{row['peer_median']:.1f}" in why
            assert row["period"] in why
            assert Path(row["source_path"]).name in why
            assert f"row {row['source_row_number']} of" in why


def test_a_flag_reads_as_a_plain_sentence(built: Built) -> None:
    flags = built.flags(LATEST_QUARTER).filter(
        pl.col("flagged")
        & (pl.col("indicator_id") == "unallocated_reserves_pct_nre")
        & (pl.col("peer_basis") == "nearest neighbours")
        & pl.col("council_code").is_in(pack_councils(built, LATEST_QUARTER))
    )
    assert flags.height >= 1
    row = flags.row(0, named=True)
    # The share of all other councils with a value that this one holds more than (fewer
    # reserves is worse), counted from the quarter's flags.
    others = (
        built.flags(LATEST_QUARTER)
        .filter(
            (pl.col("indicator_id") == "unallocated_reserves_pct_nre")
            & pl.col("value").is_not_null()
            & (pl.col("council_code") != row["council_code"])
        )
        .get_column("value")
        .to_list()
    )
    worse_than = sum(1 for v in others if row["value"] < v) + 0.5 * others.count(row["value"])
    national = 100 * worse_than / len(others)
    assert row["national_percentile"] == pytest.approx(national)
    expected = (
        f"Unallocated reserves as % of net revenue expenditure was {row['value']:.1f}% in "
        f"{row['period']}; the median of its {row['peer_group_size']} nearest neighbours was "
        f"{row['peer_median']:.1f}%; that is {row['robust_z']:.1f} median absolute deviations "
        f"worse, past the {row['threshold']:g} threshold; it is worse than {national:.0f}% of "
        f"all councils with data (source: Revenue Outturn summary, row "
        f"{row['source_row_number']} of {Path(row['source_path']).name})."
    )
    why = parse(built.page(LATEST_QUARTER, f"{row['council_code']}.html")).text("why")
    assert expected in why


def test_each_pack_is_self_contained_with_a_chart_per_flag(built: Built) -> None:
    flags = built.flags(LATEST_QUARTER)
    for code in pack_councils(built, LATEST_QUARTER):
        text = built.page(LATEST_QUARTER, f"{code}.html")
        page = parse(text)
        charts = [i for i in page.images if i["src"].startswith(CHART_PREFIX)]
        n_flags = flags.filter((pl.col("council_code") == code) & pl.col("flagged")).height
        assert len(charts) == len(page.images) == n_flags
        for chart in charts:
            svg = base64.b64decode(chart["src"].removeprefix(CHART_PREFIX)).decode()
            assert "<svg" in svg and "<path" in svg
            assert chart["alt"].startswith("Line chart of ")
            assert int(chart["width"]) > 0 and int(chart["height"]) > 0
        assert page.scripts == 0 and page.stylesheets == []
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
        assert not re.search(r"url\(|@import", text)
        assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_trend_covers_every_quarter_built_up_to_this_one(built: Built) -> None:
    code = pack_councils(built, LATEST_QUARTER)[0]
    text = built.page(LATEST_QUARTER, f"{code}.html")
    tables = re.findall(r"<caption>[^<]* by quarter</caption>(.*?)</table>", text, re.S)
    assert tables
    for table in tables:
        quarters = re.findall(r'<th scope="row">(\d{4}Q\d)</th>', table)
        assert quarters == [*BACKFILL_QUARTERS, LATEST_QUARTER]


def test_each_pack_lists_its_data_gaps_and_known_case_status(built: Built) -> None:
    flags = built.flags(LATEST_QUARTER)
    for code in pack_councils(built, LATEST_QUARTER):
        page = parse(built.page(LATEST_QUARTER, f"{code}.html"))
        gaps = flags.filter((pl.col("council_code") == code) & (pl.col("state") != "scored"))
        expected = {
            state: sorted(group["indicator_id"].to_list())
            for (state,), group in gaps.group_by("state")
        }
        assert {state: sorted(ids) for state, ids in page.gap_items.items()} == expected
        assert "no finding recorded" in expected, "governance registers ship empty"
        assert "may be incomplete" in page.text("gaps")
        assert "Not a known case" in page.text("known-case")


# --------------------------------------------------------------------------------------------
# On demand
# --------------------------------------------------------------------------------------------


def test_on_demand_pack_for_a_council_outside_the_top_n(built: Built, tmp_path: Path) -> None:
    watchlist = built.watchlist(LATEST_QUARTER)
    top = expected_top(built, LATEST_QUARTER, TOP_N)
    outside = watchlist.filter(~pl.col("council_code").is_in(top) & ~pl.col("known_case"))
    flagged_outside = outside.filter(pl.col("n_flags") > 0).sort("rank")
    unflagged = outside.filter(pl.col("n_flags") == 0).sort("council_code")
    assert flagged_outside.height and unflagged.height
    for row in (flagged_outside.row(0, named=True), unflagged.row(0, named=True)):
        path = write_briefing(built.database, tmp_path, LATEST_QUARTER.lower(), row["council_code"])
        assert path == tmp_path / "briefings" / f"quarter={LATEST_QUARTER}" / (
            f"{row['council_code']}.html"
        )
        text = path.read_text(encoding="utf-8")
        page = parse(text)
        assert row["council_name"] in page.full_text and NEUTRAL_NOTICE in page.full_text
        assert f"{row['rank']} of " in page.full_text
        images = page.images
        assert len(images) == row["n_flags"]
        if row["n_flags"] == 0:
            assert "No indicator was flagged" in text
        # the same warehouse gives the same page, byte for byte
        again = write_briefing(
            built.database, tmp_path / "again", LATEST_QUARTER, row["council_code"]
        )
        assert again.read_bytes() == path.read_bytes()
    assert not (tmp_path / "briefings" / f"quarter={LATEST_QUARTER}" / "index.html").exists()


def test_on_demand_pack_for_a_known_case(built: Built, tmp_path: Path) -> None:
    row = built.watchlist(LATEST_QUARTER).filter(pl.col("known_case")).row(0, named=True)
    with duckdb.connect(str(built.database), read_only=True) as connection:
        path = write_briefing(connection, tmp_path, LATEST_QUARTER, row["council_code"])
    page = parse(path.read_text(encoding="utf-8"))
    assert "Known case at" in page.text("known-case")
    assert row["known_case_reason"] in page.text("known-case")
    # its flag is a fixed threshold (years of reserves left), said in words too
    flags = built.flags(LATEST_QUARTER).filter(
        (pl.col("council_code") == row["council_code"]) & pl.col("flagged")
    )
    assert flags.height == row["n_flags"] >= 1
    for flag in flags.filter(pl.col("method") == "absolute").iter_rows(named=True):
        assert f"at or below the threshold of {flag['threshold']:.1f} years" in page.text("why")
    assert len(page.images) == flags.height


@pytest.mark.parametrize(
    ("quarter", "council", "message"),
    [
        (LATEST_QUARTER, "E06999999", "not in the watchlist"),
        ("2020Q1", "E07900005", "no watchlist for 2020Q1"),
        ("2019-01-01", "E07900005", "not a quarter"),
        (LATEST_QUARTER, "../../etc/passwd", "not an English council"),
    ],
)
def test_on_demand_pack_refuses_what_the_warehouse_does_not_hold(
    built: Built, tmp_path: Path, quarter: str, council: str, message: str
) -> None:
    with pytest.raises(BriefingError, match=message):
        write_briefing(built.database, tmp_path, quarter, council)
    assert not list(tmp_path.rglob("*.html"))


def test_names_are_escaped_everywhere(built: Built) -> None:
    code = make_estate(scale=SCALE, seed=SEED).councils[AWKWARD_INDEX].gss_code
    index = built.page(LATEST_QUARTER, "index.html")
    assert "<b>6</b>" not in index
    assert "Exampleham &lt;b&gt;6&lt;/b&gt; &amp; &#34;Sons&#34;" in index
    assert code in pack_councils(built, LATEST_QUARTER), "the awkward council should be on top"
    pack = built.page(LATEST_QUARTER, f"{code}.html")
    assert "<b>6</b>" not in pack
    assert parse(pack).title.startswith(AWKWARD_NAME)


def test_rebuilding_a_quarter_removes_its_earlier_packs(built: Built, tmp_path: Path) -> None:
    output = tmp_path / "output"
    shutil.copytree(built.output_dir / "briefings", output / "briefings")
    assert len(pack_councils(built, LATEST_QUARTER)) == TOP_N
    with duckdb.connect(str(built.database), read_only=True) as connection:
        result = write_quarter_briefings(connection, output, LATEST_QUARTER, top_n=1)
    folder = output / "briefings" / f"quarter={LATEST_QUARTER}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["index.html", f"{result.councils[0]}.html"]
    )
    assert result.councils == expected_top(built, LATEST_QUARTER, 1)
