"""The published watchlist and flags on the hand estate across 2016-2023: rebuilt quarters are
identical unless newer data was public by their as-of date, known cases are ranked apart,
missing data is reported as coverage (never as "no flags"), and every reader downstream tools
use can open the Hive-partitioned Parquet with the documented columns.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from indicator_fixtures import (
    ASC_CSV,
    DISTRICT_RESERVES,
    INTERVENTION,
    NO_RETURNS,
    RESERVES_INDICATORS,
    SECTION114,
    C,
    D,
    Run,
    assert_flags_follow_their_method,
    assert_watchlist_explained,
    catalogue_entries,
    hand_run,
    row,
    write_audit_findings,
    write_hand_estate,
)

from checks.outputs import FLAGS_ARROW_SCHEMA, WATCHLIST_ARROW_SCHEMA
from pipelines.partitions import as_of_date, partition_key_for

FIRST, LAST = "2016-01-01", "2023-10-01"
QUARTERS = [f"{year}Q{q}" for year in range(2016, 2024) for q in range(1, 5)]
COUNCILS = [*D, *C, NO_RETURNS.gss_code]
VOLATILE = ["run_id"]  # differs between runs by design


@dataclass
class History:
    run: Run
    first: dict[str, pl.DataFrame]  # 2019Q1 as first built, alone
    first_file_sha: str
    after_later: pl.DataFrame  # 2019Q1 warehouse rows after the later quarters were built
    after_later_file_sha: str
    rebuilt: dict[str, pl.DataFrame]  # 2019Q1 rebuilt alone after the later quarters
    in_backfill: dict[str, pl.DataFrame]  # 2019Q1 built inside a 2016-2023 backfill


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(run: Run, quarter: str = "2019Q1") -> dict[str, pl.DataFrame]:
    return {
        "watchlist": run.watchlist(quarter),
        "flags": run.flags(quarter),
        "table": run.frame("SELECT * FROM watchlist.watchlist WHERE quarter = ?", [quarter]),
    }


def assert_same_except(
    a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame], volatile: list[str]
) -> None:
    for name in a:
        left, right = a[name].drop(volatile, strict=False), b[name].drop(volatile, strict=False)
        assert left.columns == right.columns, name
        assert left.height == right.height, name
        differing = [c for c in left.columns if not left.get_column(c).equals(right.get_column(c))]
        assert not differing, f"{name}: columns {differing} differ"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    run = hand_run(tmp_path_factory.mktemp("watchlist"))
    watchlist_file = run.out / "watchlist" / "quarter=2019Q1" / "part-0.parquet"
    assert run.quarter("2019-01-01").success
    first, first_sha = snapshot(run), sha(watchlist_file)
    assert run.quarters("2019-04-01", LAST).success  # the later quarters, in one run
    after_later = snapshot(run)["table"]
    after_later_sha = sha(watchlist_file)
    assert run.quarter("2019-01-01").success
    rebuilt = snapshot(run)
    assert run.quarters(FIRST, LAST).success  # everything, in one single-run backfill
    return History(
        run=run,
        first=first,
        first_file_sha=first_sha,
        after_later=after_later,
        after_later_file_sha=after_later_sha,
        rebuilt=rebuilt,
        in_backfill=snapshot(run),
    )


@pytest.fixture(scope="module")
def all_watchlists(history: History) -> pl.DataFrame:
    return pl.scan_parquet(history.run.out / "watchlist", hive_partitioning=True).collect()


@pytest.fixture(scope="module")
def all_flags(history: History) -> pl.DataFrame:
    return pl.scan_parquet(history.run.out / "flags", hive_partitioning=True).collect()


# --------------------------------------------------------------------------------------------
# Rebuilding a quarter
# --------------------------------------------------------------------------------------------


def test_building_later_quarters_leaves_an_earlier_one_untouched(history: History) -> None:
    assert history.after_later_file_sha == history.first_file_sha
    assert history.after_later.equals(history.first["table"])  # run_id included


def test_a_quarter_rebuilt_later_is_identical_except_the_run_id(history: History) -> None:
    assert_same_except(history.first, history.rebuilt, VOLATILE)
    first_runs = set(history.first["watchlist"].get_column("run_id"))
    assert first_runs.isdisjoint(history.rebuilt["watchlist"].get_column("run_id"))


def test_a_quarter_built_in_a_backfill_is_identical_to_one_built_alone(history: History) -> None:
    assert_same_except(history.first, history.in_backfill, VOLATILE)


LATE_FINDING = {
    "council_code": D[1],
    "council_name": "Handton 2",
    "financial_year": "2018-19",
    "finding_type": "vfm_significant_weakness",
    "vfm_criterion": "financial_sustainability",
    "finding_date": "2019-03-01",
    "published_date": "2019-05-15",
    "auditor": "Fictional Audit LLP",
    "summary": "fictional",
    "source_url": "https://example.org/audit",
}


def rebuild_with_changes(history: History, root: Path, change, sources: list[str]) -> Run:
    """A private copy of the history whose source files `change` edits; the changed sources
    are then re-ingested (raw and validated)."""
    run = history.run.copy(root, copy_data=True)
    change(run.data_dir)
    keys = [[layer, source] for source in sources for layer in ("raw", "validated")]
    assert run.ingest(selection=dg.AssetSelection.assets(*keys)).success
    return run


def publish_later(data_dir: Path) -> None:
    """Two new figures, neither public by 2019-03-31: a VfM significant weakness found at D2 on
    2019-03-01 but published on 2019-05-15, and C2's 2018-19 workforce turnover (a Data
    Explorer year, public on 2019-11-26) of 95%."""
    write_audit_findings(data_dir, [LATE_FINDING])
    path = data_dir / ASC_CSV
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    code, year, value = (
        header.index(h) for h in ("Local authority code", "Financial year", "Value")
    )
    metric = header.index("Code")
    hits = [r for r in rows if r[code] == C[1] and r[year] == "2018-19" and r[metric] == "ASC7"]
    assert len(hits) == 1
    hits[0][value] = "95.0"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture(scope="module")
def later_published(history: History, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The history with `publish_later`'s figures, re-ingested; 2019Q1..2019Q4 rebuilt in one
    run."""
    run = rebuild_with_changes(
        history,
        tmp_path_factory.mktemp("later"),
        publish_later,
        ["audit_findings", "data_explorer_metrics"],
    )
    assert run.quarters("2019-01-01", "2019-10-01").success
    return run


def test_figures_published_after_the_as_of_date_leave_the_quarter_unchanged(
    history: History, later_published: Run
) -> None:
    """2019Q1 rebuilt after `publish_later` is unchanged but for the run, fingerprint
    included (it could not see the new figures); 2019Q2 shows the finding, 2019Q4 the new
    turnover, and their fingerprints change."""
    run = later_published
    assert_same_except(history.first, snapshot(run, "2019Q1"), VOLATILE)

    def fingerprint(watchlist) -> list[str]:
        return watchlist.get_column("inputs_sha256").unique().to_list()

    assert fingerprint(run.watchlist("2019Q4")) != fingerprint(history.run.watchlist("2019Q4"))

    # 2019Q2 (as of 2019-06-30): the finding is 121 days old, half-life 2 years, weight 2.5.
    strength = 2 ** (-(date(2019, 6, 30) - date(2019, 3, 1)).days / 365.25 / 2)
    assert strength == pytest.approx(math.exp(-math.log(2) * 121 / 365.25 / 2))
    flag = row(
        run.flags("2019Q2"), council_code=D[1], indicator_id="vfm_weakness_financial_sustainability"
    )
    assert flag["flagged"] and flag["value"] == pytest.approx(strength)
    assert flag["contribution"] == pytest.approx(2.5 * strength)
    assert flag["published_date"] == date(2019, 5, 15)
    assert run.score_of(D[1], "2019Q2") == pytest.approx(
        history.run.score_of(D[1], "2019Q2") + 2.5 * strength
    )

    # 2019Q4 (as of 2019-12-31): C2's 2018-19 turnover of 95% is public and far above its peers.
    turnover = row(run.flags("2019Q4"), council_code=C[1], indicator_id="asc_workforce_turnover")
    assert turnover["period"] == "2018-19" and turnover["value"] == pytest.approx(95.0)
    assert turnover["flagged"]
    before = row(
        history.run.flags("2019Q4"), council_code=C[1], indicator_id="asc_workforce_turnover"
    )
    assert before["value"] != pytest.approx(95.0)
    assert run.score_of(C[1], "2019Q4") > history.run.score_of(C[1], "2019Q4")
    # ... and still not in 2019Q2, as of 2019-06-30.
    assert (
        row(run.flags("2019Q2"), council_code=C[1], indicator_id="asc_workforce_turnover")["period"]
        == "2017-18"
    )


def test_a_rebuilt_quarter_differs_only_in_run_id_after_a_later_publication(
    history: History, later_published: Run
) -> None:
    assert_same_except(history.first, snapshot(later_published, "2019Q1"), VOLATILE)


def test_a_revised_outturn_changes_only_quarters_after_its_publication(
    history: History, tmp_path: Path
) -> None:
    """Every Revenue Outturn year shipped (2015-16..2017-18) is public by 2018-11-16, so no
    outturn figure can be published after 2019Q1; the same rule is shown one year earlier.
    D2's 2017-18 unallocated reserves (1,400 at 31 March 2018) are reported as 100 instead:
    2018Q3 (as of 2018-09-30, before 2017-18 was public) is unchanged; 2018Q4 and 2019Q1
    see 100 / 12,200 of NRE."""
    reserves = {code: {k: list(v) for k, v in r.items()} for code, r in DISTRICT_RESERVES.items()}
    reserves[D[1]]["ua"][3] = 100
    run = rebuild_with_changes(
        history, tmp_path / "revised", lambda d: write_hand_estate(d, reserves), ["revenue_outturn"]
    )
    assert run.quarters("2018-07-01", "2019-01-01").success

    assert_same_except(
        snapshot(history.run, "2018Q3"), snapshot(run, "2018Q3"), [*VOLATILE, "inputs_sha256"]
    )
    for quarter in ("2018Q4", "2019Q1"):
        pct = row(
            run.flags(quarter), council_code=D[1], indicator_id="unallocated_reserves_pct_nre"
        )
        assert pct["value"] == pytest.approx(100 * 100 / 12200)
        assert pct["flagged"]
        assert run.score_of(D[1], quarter) > history.run.score_of(D[1], quarter)


# --------------------------------------------------------------------------------------------
# Every quarter: one row per council, scores explained
# --------------------------------------------------------------------------------------------


def test_every_quarter_has_one_row_per_council(all_watchlists: pl.DataFrame) -> None:
    assert sorted(all_watchlists.get_column("quarter").unique()) == QUARTERS
    for (quarter,), group in all_watchlists.group_by("quarter"):
        assert sorted(group.get_column("council_code")) == sorted(COUNCILS), quarter
        assert set(group.get_column("as_of_date")) == {as_of_date(partition_key_for(quarter))}


def test_every_score_is_the_sum_of_its_contributions(
    all_watchlists: pl.DataFrame, all_flags: pl.DataFrame
) -> None:
    checked = assert_watchlist_explained(all_watchlists, all_flags)
    assert checked == len(QUARTERS) * len(COUNCILS)


def test_every_flag_follows_its_method(all_flags: pl.DataFrame) -> None:
    assert assert_flags_follow_their_method(all_flags) > len(QUARTERS) * len(COUNCILS)


# --------------------------------------------------------------------------------------------
# Known cases
# --------------------------------------------------------------------------------------------


def expected_known(as_of: date) -> dict[str, str]:
    """From the estate: C6's section 114 notice counts for three years; C5's intervention from
    its stated start (February 2020) on."""
    known = {}
    for code, notice in SECTION114.items():
        if notice <= as_of and notice > as_of.replace(year=as_of.year - 3):
            known[code] = f"section 114 notice {notice.isoformat()}"
    code, intervention, _, start = INTERVENTION
    if start <= as_of:
        known[code] = f"{intervention} (from {start:%Y-%m})"
    return known


def test_known_cases_are_marked_and_never_get_a_main_rank(all_watchlists: pl.DataFrame) -> None:
    seen = set()
    for quarter in QUARTERS:
        rows = all_watchlists.filter(pl.col("quarter") == quarter)
        known = expected_known(as_of_date(partition_key_for(quarter)))
        seen.update(known)
        for r in rows.iter_rows(named=True):
            code = r["council_code"]
            assert r["known_case"] == (code in known), (quarter, code)
            if code in known:
                assert r["rank"] is None, (quarter, code)
                assert r["known_case_rank"] is not None
                assert r["known_case_reason"] == known[code]
            else:
                assert r["rank"] is not None and r["known_case_rank"] is None
                assert r["known_case_reason"] is None
        # Ranks are standard competition ranks by score within each group.
        for flag, column in ((False, "rank"), (True, "known_case_rank")):
            group = rows.filter(pl.col("known_case") == flag)
            scores = group.get_column("risk_score").to_list()
            for r in group.iter_rows(named=True):
                assert r[column] == 1 + sum(1 for s in scores if s > r["risk_score"])
    assert seen == {C[4], C[5]}
    # The notice (2018-06-15) counts from 2018Q2 to 2021Q1 (as of 2021-03-31), not 2021Q2.
    c6 = all_watchlists.filter(pl.col("council_code") == C[5]).sort("quarter")
    known_quarters = c6.filter(pl.col("known_case")).get_column("quarter").to_list()
    assert known_quarters[0] == "2018Q2" and known_quarters[-1] == "2021Q1"
    assert len(known_quarters) == 12


# --------------------------------------------------------------------------------------------
# Missing data and applicability
# --------------------------------------------------------------------------------------------


def test_a_council_with_no_returns_is_insufficient_data_not_no_flags(
    all_watchlists: pl.DataFrame,
) -> None:
    for quarter in QUARTERS:
        rows = all_watchlists.filter(pl.col("quarter") == quarter)
        nr = row(rows, council_code=NO_RETURNS.gss_code)
        assert nr["coverage"] == 0.0
        # A district: 11 peer/absolute indicators, and 6 debt ones.
        assert nr["n_indicators_scored"] == 0 and nr["n_indicators_applicable"] == 17
        assert nr["risk_band"] == "insufficient data"
        assert nr["risk_score"] == 0.0 and nr["n_flags"] == 0
        flagged = rows.filter(~pl.col("known_case") & (pl.col("n_flags") > 0))
        if flagged.height:
            assert nr["rank"] > flagged.get_column("rank").max(), quarter
    bands = all_watchlists.filter(pl.col("coverage") < 0.25)
    assert "no flags" not in bands.get_column("risk_band").to_list()


def test_not_applicable_indicators_are_absent_from_the_flags(all_flags: pl.DataFrame) -> None:
    catalogue = catalogue_entries()
    for kind, codes in (("district", [*D, NO_RETURNS.gss_code]), ("county", C)):
        applicable = sorted(i for i, e in catalogue.items() if kind in e["applies_to"])
        mine = all_flags.filter(pl.col("council_code").is_in(codes))
        for (quarter, code), group in mine.group_by("quarter", "council_code"):
            assert sorted(group.get_column("indicator_id")) == applicable, (quarter, code)
    districts = all_flags.filter(pl.col("council_code").is_in(D))
    assert not districts.get_column("indicator_id").str.starts_with("asc_").any()
    assert (
        all_flags.filter(pl.col("council_code").is_in(C))
        .filter(pl.col("indicator_id") == "council_tax_receipts_growth")
        .is_empty()
    )


def test_reserves_go_stale_after_max_age_days(all_flags: pl.DataFrame) -> None:
    """2017-18 (period end 2018-03-31) is 1,100 days old on 2021-04-05: usable in 2021Q1,
    stale (reported, not scored) from 2021Q2."""
    for quarter, state in (("2021Q1", "scored"), ("2021Q2", "stale")):
        rows = all_flags.filter(
            (pl.col("quarter") == quarter)
            & pl.col("council_code").is_in(D)
            & pl.col("indicator_id").is_in(RESERVES_INDICATORS)
        )
        assert set(rows.get_column("state")) == {state}, quarter
    stale = all_flags.filter(pl.col("state") == "stale")
    assert not stale.get_column("flagged").any()
    assert (stale.get_column("contribution") == 0).all()


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------

DATASETS = {"watchlist": WATCHLIST_ARROW_SCHEMA, "flags": FLAGS_ARROW_SCHEMA}


def documented(dataset: str) -> list[str]:
    return [*DATASETS[dataset].names, "quarter"]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_the_parquet_is_readable_by_every_reader(history: History, dataset: str) -> None:
    folder = history.run.out / dataset
    rows_per_quarter = {"watchlist": len(COUNCILS)}.get(dataset)

    frame = pd.read_parquet(folder)
    assert sorted(frame.columns) == sorted(documented(dataset))
    assert sorted(frame["quarter"].astype(str).unique()) == QUARTERS
    one = pd.read_parquet(folder, filters=[("quarter", "=", "2019Q1")])
    assert set(one["quarter"].astype(str)) == {"2019Q1"}

    lazy = pl.scan_parquet(folder, hive_partitioning=True)
    polars_frame = lazy.collect()
    assert sorted(polars_frame.columns) == sorted(documented(dataset))
    assert polars_frame.height == len(frame)
    assert lazy.filter(pl.col("quarter") == "2019Q1").collect().height == len(one)

    with duckdb.connect() as connection:
        relation = connection.sql(
            f"SELECT * FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true)"
        )
        assert sorted(relation.columns) == sorted(documented(dataset))
        counts = dict(
            connection.sql(
                f"SELECT quarter, count(*) FROM read_parquet('{folder}/*/*.parquet', "
                "hive_partitioning = true) GROUP BY quarter"
            ).fetchall()
        )
    assert sorted(counts) == QUARTERS
    assert sum(counts.values()) == len(frame)

    dataset_ = ds.dataset(folder, format="parquet", partitioning="hive")
    table = dataset_.to_table()
    assert sorted(table.column_names) == sorted(documented(dataset))
    assert table.num_rows == len(frame)
    for field in DATASETS[dataset]:
        assert table.schema.field(field.name).type == field.type, field.name
    if rows_per_quarter:
        assert set(counts.values()) == {rows_per_quarter}


def test_quarter_lives_only_in_the_folder_name(history: History) -> None:
    for dataset, schema in DATASETS.items():
        path = history.run.out / dataset / "quarter=2019Q1" / "part-0.parquet"
        stored = pq.read_schema(path)
        assert "quarter" not in stored.names
        assert stored.names == schema.names
