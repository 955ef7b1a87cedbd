"""Great Expectations suites run as asset checks (assets/quality.py, checks/expectations.py).

A small fictional estate is materialised once through `dagster.materialize`, with the checks in
the run as a user's run would have them: the unpartitioned ingest assets first, then one quarter
of the partitioned watchlist. Tests that corrupt a table take a private copy of the warehouse
and the Data Docs, write the fault straight into DuckDB, and run only the checks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.quality import EXPECTATION_SUITE, expectation_checks, quality_checks
from checks.expectations import DATA_DOCS_DIR, RESULTS_DIR, SUITES
from pipelines.definitions import all_assets, ingest_assets, quarterly_assets
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import make_estate, write_estate

PARTITION = "2019-01-01"
SEED = 3


@dataclass
class Site:
    """A data directory, a warehouse file and an output directory (where Data Docs go)."""

    data_dir: Path
    database: Path
    output_dir: Path

    def resources(self) -> dict[str, object]:
        return {
            "warehouse": Warehouse(database=str(self.database)),
            "source_files": SourceFiles(data_dir=str(self.data_dir)),
            "parquet_outputs": ParquetOutputs(output_dir=str(self.output_dir)),
        }

    def materialize(self, selection: dg.AssetSelection, **kwargs) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*all_assets, *quality_checks],
            selection=selection,
            resources=self.resources(),
            **kwargs,
        )

    def run_suites(self, *suites: str) -> dg.ExecuteInProcessResult:
        keys = [
            dg.AssetCheckKey(dg.AssetKey(list(SUITES[s].asset_key)), EXPECTATION_SUITE)
            for s in suites
        ]
        return self.materialize(dg.AssetSelection.checks(*keys))

    def execute(self, sql: str) -> None:
        with duckdb.connect(str(self.database)) as connection:
            connection.execute(sql)

    def scalar(self, sql: str):
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.execute(sql).fetchall()[0][0]

    @property
    def docs(self) -> Path:
        return self.output_dir / DATA_DOCS_DIR


@dataclass
class Built:
    site: Site
    ingest: dg.ExecuteInProcessResult
    quarterly: dg.ExecuteInProcessResult

    def evaluation(self, suite: str) -> dg.AssetCheckEvaluation:
        return (
            evaluation(self.ingest, suite)
            if suite.startswith("validated.")
            else evaluation(self.quarterly, suite)
        )


def evaluation(result: dg.ExecuteInProcessResult, suite: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetKey(list(SUITES[suite].asset_key))
    found = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == key and e.check_name == EXPECTATION_SUITE
    ]
    assert len(found) == 1, f"{suite}: {found}"
    return found[0]


def values(check: dg.AssetCheckEvaluation) -> dict:
    return {k: v.value for k, v in check.metadata.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("expectations")
    site = Site(root / "data", root / "w.duckdb", root / "out")
    write_estate(site.data_dir, make_estate(scale=0.05, seed=SEED), seed=SEED)
    ingest = site.materialize(dg.AssetSelection.assets(*ingest_assets))
    quarterly = site.materialize(
        dg.AssetSelection.assets(*quarterly_assets), partition_key=PARTITION
    )
    return Built(site, ingest, quarterly)


@pytest.fixture
def copy(built: Built, tmp_path: Path) -> Site:
    """A private copy of the built warehouse and output directory, to corrupt."""
    site = Site(built.site.data_dir, tmp_path / "w.duckdb", tmp_path / "out")
    shutil.copy2(built.site.database, site.database)
    wal = built.site.database.with_name(built.site.database.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, site.database.with_name(site.database.name + ".wal"))
    shutil.copytree(built.site.output_dir, site.output_dir)
    return site


def test_every_suite_runs_in_the_runs_that_build_its_table_and_passes_on_clean_data(
    built: Built,
) -> None:
    assert built.ingest.success and built.quarterly.success
    for name, suite in SUITES.items():
        check = built.evaluation(name)
        meta = values(check)
        assert check.passed, f"{name}: {meta['failed']}"
        assert check.severity == dg.AssetCheckSeverity.WARN
        assert meta["expectations"] == len(suite.expectations())
        assert meta["failed_expectations"] == 0 and meta["failed"] == "none"
        assert meta["rows"] == built.site.scalar(f"SELECT count(*) FROM {suite.table}") > 0
        assert meta["data_docs"] == str(built.site.docs / "index.html")
    # The watchlist check covers the whole table, whichever quarters the run built.
    assert values(built.evaluation("watchlist.watchlist"))["quarters"] == "2019Q1 to 2019Q1 (1)"


def test_clean_estate_exercises_both_sides_of_the_known_case_expectations(built: Built) -> None:
    """The conditional expectations (rank null iff known case) see rows of both kinds."""
    kinds = built.site.scalar(
        "SELECT count(DISTINCT known_case) FROM watchlist.watchlist WHERE quarter = '2019Q1'"
    )
    assert kinds == 2


def test_data_docs_are_written_under_the_output_dir_with_every_suite(built: Built) -> None:
    index = built.site.docs / "index.html"
    assert index.is_file()
    html = index.read_text(encoding="utf-8")
    for name in SUITES:
        assert name in html
        page = Path(values(built.evaluation(name))["validation_page"])
        assert page.is_file() and built.site.docs in page.parents
        assert name in page.read_text(encoding="utf-8")
    # One JSON result per suite behind the site, beside the pages.
    assert len(list((built.site.docs / RESULTS_DIR).rglob("*.json"))) == len(SUITES)


def test_duplicate_row_and_negative_reserve_fail_the_revenue_outturn_suite(copy: Site) -> None:
    row = copy.scalar("SELECT min(council_code) FROM validated.revenue_outturn")
    copy.execute(
        "INSERT INTO validated.revenue_outturn "
        f"SELECT * FROM validated.revenue_outturn WHERE council_code = '{row}' LIMIT 1"
    )
    copy.execute(
        "UPDATE validated.revenue_outturn SET unallocated_reserves_end = -12.5 "
        "WHERE council_code = (SELECT max(council_code) FROM validated.revenue_outturn)"
    )
    result = copy.run_suites("validated.revenue_outturn")
    check = evaluation(result, "validated.revenue_outturn")
    meta = values(check)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert set(meta["failed"].split("; ")) == {
        "expect_compound_columns_to_be_unique(council_code, period)",
        "expect_column_values_to_be_between(unallocated_reserves_end)",
    }
    assert meta["failed_expectations"] == 2
    assert "-12.5" in meta["failures"]
    # The Data Docs keep only the latest validation of the suite, and still list every suite.
    pages = list((copy.docs / "validations" / "validated" / "revenue_outturn").rglob("*.html"))
    assert len(pages) == 1 and pages[0] == Path(meta["validation_page"])
    assert "Failed" in pages[0].read_text(encoding="utf-8")
    index = (copy.docs / "index.html").read_text(encoding="utf-8")
    assert all(name in index for name in SUITES)


def test_out_of_range_coverage_and_a_ranked_known_case_fail_the_watchlist_suite(
    copy: Site,
) -> None:
    copy.execute(
        "UPDATE watchlist.watchlist SET coverage = 1.5 WHERE council_code = "
        "(SELECT min(council_code) FROM watchlist.watchlist WHERE NOT known_case)"
    )
    # A council marked known while keeping its main rank, with no reason or known-case rank.
    copy.execute(
        "UPDATE watchlist.watchlist SET known_case = true WHERE council_code = "
        "(SELECT max(council_code) FROM watchlist.watchlist WHERE NOT known_case)"
    )
    check = evaluation(copy.run_suites("watchlist.watchlist"), "watchlist.watchlist")
    meta = values(check)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert set(meta["failed"].split("; ")) == {
        "expect_column_values_to_be_between(coverage)",
        "expect_column_values_to_be_null(rank)",
        "expect_column_values_to_not_be_null(known_case_rank)",
        "expect_column_values_to_not_be_null(known_case_reason)",
    }
    assert "1.5" in meta["failures"]


def test_a_part_above_the_whole_and_a_repeated_date_fail_the_borrowing_suite(copy: Site) -> None:
    """Short-term borrowing above gross borrowing, and a council's stock given twice for one
    date: the pandera model checks each row alone, the suite the table as a whole."""
    table = "validated.borrowing_live_table"
    copy.execute(
        f"UPDATE {table} SET short_term_borrowing = gross_borrowing + 1000 WHERE council_code = "
        f"(SELECT min(council_code) FROM {table}) AND period_end = "
        f"(SELECT max(period_end) FROM {table})"
    )
    copy.execute(
        f"INSERT INTO {table} SELECT * FROM {table} WHERE council_code = "
        f"(SELECT max(council_code) FROM {table}) LIMIT 1"
    )
    check = evaluation(copy.run_suites(table), table)
    meta = values(check)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert set(meta["failed"].split("; ")) == {
        "expect_column_pair_values_a_to_be_greater_than_b(gross_borrowing, short_term_borrowing)",
        "expect_compound_columns_to_be_unique(council_code, period_end)",
    }


def test_a_check_on_a_table_not_built_yet_warns_instead_of_failing_the_run(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path / "data", tmp_path / "empty.duckdb", tmp_path / "out")
    duckdb.connect(str(site.database)).close()
    result = site.run_suites("watchlist.watchlist")
    assert result.success
    check = evaluation(result, "watchlist.watchlist")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "does not exist" in (check.description or "")


def test_there_is_one_expectation_check_per_suite() -> None:
    keys = {key for check in expectation_checks for key in check.check_keys}
    assert keys == {
        dg.AssetCheckKey(dg.AssetKey(list(s.asset_key)), EXPECTATION_SUITE) for s in SUITES.values()
    }


def test_a_table_over_the_row_limit_is_validated_on_a_repeatable_sample(
    copy: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assets.quality as quality

    rows = copy.scalar("SELECT count(*) FROM validated.data_explorer_metrics")
    limit = rows // 4
    monkeypatch.setattr(quality, "SUITE_ROW_LIMIT", limit)
    runs = [
        values(evaluation(copy.run_suites(name), name))
        for name in ("validated.data_explorer_metrics", "validated.data_explorer_metrics")
    ]
    first, second = runs
    assert first["table_rows"] == rows
    # About a quarter of the rows (every 4th or 5th by a hash of the row id), the same each run.
    assert 0 < first["rows"] < rows // 2 and first["rows"] == second["rows"]
    assert first["validated"] == f"a repeatable sample of {first['rows']:,} of {rows:,} rows"
    # A fault in every row is still found on the sample.
    copy.execute("UPDATE validated.data_explorer_metrics SET value_state = 'guessed'")
    check = evaluation(
        copy.run_suites("validated.data_explorer_metrics"), "validated.data_explorer_metrics"
    )
    assert not check.passed
    assert "expect_column_values_to_be_in_set(value_state)" in values(check)["failed"]
    assert f"on a sample of {values(check)['rows']:,} of {rows:,} rows" in (check.description or "")
