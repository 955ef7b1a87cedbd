"""Freshness of each dated source (checks/freshness.py, assets/quality.py).

The rule itself is tested with `today` injected; the Dagster checks are tested end to end on a
small fictional estate whose newest dates are known by construction (pipelines.synthetic), with
one peer challenge dated a month ago so that one source is fresh on any day the tests run.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.indicators import SERVICE_OUTCOME_SOURCES
from assets.quality import FRESHNESS, freshness_checks
from checks.freshness import RULES, FreshnessRule, assess, measure
from checks.schemas import STAGING_SPECS
from pipelines.catalogue import load_catalogue
from pipelines.definitions import all_assets
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import (
    ASC_YEARS,
    CT_LAST_YEAR,
    RS_YEARS,
    Estate,
    make_estate,
    write_estate,
)

SEED = 4
RECENT_CHALLENGE = date.today() - timedelta(days=30)
STATISTICAL = FreshnessRule("example_returns", "period_end", 200, False, "")
REGISTER = FreshnessRule("example_register", "event_date", 365, True, "")


def year_end(financial_year: str) -> date:
    """`2017-18` -> 2018-03-31, computed here from the label, not by the pipeline."""
    return date(int(financial_year[:4]) + 1, 3, 31)


# ---- the rule, with today injected ------------------------------------------------------------


def test_a_source_older_than_its_limit_fails_and_a_fresh_one_passes() -> None:
    today = date(2024, 6, 30)
    stale = assess(STATISTICAL, rows=10, newest=today - timedelta(days=201), today=today)
    fresh = assess(STATISTICAL, rows=10, newest=today - timedelta(days=30), today=today)
    assert not stale.passed and stale.age_days == 201
    assert "1 days over" in stale.summary
    assert fresh.passed and fresh.age_days == 30


def test_the_limit_itself_is_still_fresh() -> None:
    today = date(2024, 6, 30)
    assert assess(STATISTICAL, 1, today - timedelta(days=200), today).passed
    assert not assess(STATISTICAL, 1, today - timedelta(days=201), today).passed


def test_age_is_measured_at_today_by_default() -> None:
    result = assess(STATISTICAL, 1, date.today() - timedelta(days=5))
    assert result.today == date.today() and result.age_days == 5 and result.passed


def test_an_empty_register_passes_but_an_empty_statistical_source_fails() -> None:
    empty_register = assess(REGISTER, rows=0, newest=None, today=date(2024, 6, 30))
    empty_returns = assess(STATISTICAL, rows=0, newest=None, today=date(2024, 6, 30))
    assert empty_register.passed and empty_register.summary.startswith("no rows")
    assert not empty_returns.passed and empty_returns.summary.startswith("no rows")
    assert empty_register.age_days is None


def test_a_newest_date_after_today_fails() -> None:
    result = assess(REGISTER, 1, date(2024, 7, 1), today=date(2024, 6, 30))
    assert not result.passed and "after today" in result.summary


def test_every_rule_names_a_dated_column_of_a_catalogued_source() -> None:
    catalogue = load_catalogue()
    assert set(RULES) == {
        "revenue_outturn",
        "data_explorer_metrics",
        "council_tax_receipts",
        "section114_notices",
        "audit_findings",
        "peer_challenges",
        "best_value_notices",
        "exceptional_financial_support",
        "la_finance_metrics",
        "core_spending_power",
        "borrowing_live_table",
        "investments_live_table",
        "prudential_indicators",
        "capital_outturn_cfr",
        "capital_outturn_borrowing",
        *SERVICE_OUTCOME_SOURCES,
    }
    for source_id, rule in RULES.items():
        assert source_id in catalogue
        assert rule.column in STAGING_SPECS[source_id].output_columns
        assert rule.max_age_days > 0


# ---- the checks, through Dagster ----------------------------------------------------------------


@dataclass
class Built:
    estate: Estate
    database: Path
    result: dg.ExecuteInProcessResult

    def check(self, source_id: str) -> dg.AssetCheckEvaluation:
        found = [
            e
            for e in self.result.get_asset_check_evaluations()
            if e.asset_key == dg.AssetKey(["validated", source_id]) and e.check_name == FRESHNESS
        ]
        assert len(found) == 1, f"{source_id}: {found}"
        return found[0]


def add_peer_challenge(data_dir: Path, estate: Estate, when: date) -> None:
    path = data_dir / "sources" / "registers" / "peer_challenges.csv"
    council = estate.councils[0]
    width = len(path.read_text(encoding="utf-8").splitlines()[0].split(","))
    with path.open("a", newline="", encoding="utf-8") as handle:
        row = [
            council.gss_code,
            council.name,
            when.isoformat(),
            "",
            "",
            "",
            "https://example.org/cpc",
        ]
        # The register's later columns (precision, citation...) are left empty.
        csv.writer(handle).writerow(row + [""] * (width - len(row)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("freshness")
    data_dir, database = root / "data", root / "w.duckdb"
    estate = make_estate(scale=0.05, seed=SEED)
    write_estate(data_dir, estate, seed=SEED)
    add_peer_challenge(data_dir, estate, RECENT_CHALLENGE)
    # The dated sources and what they need (raw layer, register, code map), with their checks.
    targets = dg.AssetSelection.assets(*[dg.AssetKey(["validated", s]) for s in RULES])
    result = dg.materialize(
        [*all_assets, *freshness_checks],
        selection=targets.upstream(),
        resources={
            "warehouse": Warehouse(database=str(database)),
            "source_files": SourceFiles(data_dir=str(data_dir)),
            "parquet_outputs": ParquetOutputs(output_dir=str(root / "out")),
        },
    )
    return Built(estate, database, result)


def test_every_dated_source_gets_a_warning_level_check(built: Built) -> None:
    assert built.result.success
    for source_id in RULES:
        check = built.check(source_id)
        assert check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["max_age_days"].value == RULES[source_id].max_age_days
        assert check.metadata["measured_on"].value == str(date.today())


def test_sources_years_old_fail_with_their_newest_period_and_age(built: Built) -> None:
    expected = {
        "revenue_outturn": year_end(RS_YEARS[-1]),
        "data_explorer_metrics": year_end(ASC_YEARS[-1]),
        # The workbook's last column is January to March of CT_LAST_YEAR + 1.
        "council_tax_receipts": date(CT_LAST_YEAR + 1, 3, 31),
        "section114_notices": max(built.estate.section114.values()),
    }
    for source_id, newest in expected.items():
        check = built.check(source_id)
        assert not check.passed, source_id
        assert check.metadata["newest_period_end"].value == str(newest)
        assert check.metadata["age_days"].value == (date.today() - newest).days
        assert "days over" in (check.description or "")


def test_every_statistical_source_reports_its_newest_period_and_is_stale(built: Built) -> None:
    """The fictional estate's statistics all end years ago: each source's check names the
    newest date in its own validated table (read here whole, with polars) and warns that it
    is past its limit; a source with no rows warns that there is no evidence."""
    statistical = [s for s, rule in RULES.items() if not rule.empty_ok]
    assert len(statistical) == 16
    empty: list[str] = []
    with duckdb.connect(str(built.database), read_only=True) as connection:
        for source_id in statistical:
            column = RULES[source_id].column
            dates = connection.table(f"validated.{source_id}").select(column).pl()
            newest = dates.get_column(column).max()
            check = built.check(source_id)
            assert not check.passed, source_id
            if newest is None:  # the estate writes no rows for it: no evidence, a warning
                assert check.metadata["newest_period_end"].value == "no rows", source_id
                assert "no dated rows" in (check.description or ""), source_id
                empty.append(source_id)
                continue
            assert check.metadata["newest_period_end"].value == str(newest), source_id
            assert check.metadata["age_days"].value == (date.today() - newest).days
            assert "days over" in (check.description or ""), source_id
    # The ones the fictional estate writes with headers only unless a test gives it rows.
    assert empty == ["la_finance_metrics", "core_spending_power", *SERVICE_OUTCOME_SOURCES]


def test_a_recent_register_passes_and_an_empty_one_passes_with_no_rows(built: Built) -> None:
    recent = built.check("peer_challenges")
    assert recent.passed
    assert recent.metadata["newest_period_end"].value == str(RECENT_CHALLENGE)
    assert recent.metadata["age_days"].value == 30
    empty = built.check("audit_findings")
    assert empty.passed
    assert empty.metadata["rows"].value == 0
    assert empty.metadata["newest_period_end"].value == "no rows"
    assert "age_days" not in empty.metadata


def test_measure_with_an_injected_today_on_the_built_warehouse(built: Built) -> None:
    quarter_end = date(CT_LAST_YEAR + 1, 3, 31)
    with duckdb.connect(str(built.database), read_only=True) as connection:
        on_time = measure(connection, "council_tax_receipts", today=quarter_end + timedelta(200))
        late = measure(connection, "council_tax_receipts", today=quarter_end + timedelta(201))
        outturn = measure(connection, "revenue_outturn", today=quarter_end + timedelta(200))
    assert on_time.newest == quarter_end and on_time.passed and on_time.rows > 0
    assert not late.passed and late.age_days == 201
    assert not outturn.passed and outturn.newest == year_end(RS_YEARS[-1])


def test_a_check_on_a_table_not_built_yet_warns_instead_of_failing_the_run(
    tmp_path: Path,
) -> None:
    database = tmp_path / "empty.duckdb"
    duckdb.connect(str(database)).close()
    key = dg.AssetCheckKey(dg.AssetKey(["validated", "revenue_outturn"]), FRESHNESS)
    result = dg.materialize(
        [*all_assets, *freshness_checks],
        selection=dg.AssetSelection.checks(key),
        resources={
            "warehouse": Warehouse(database=str(database)),
            "source_files": SourceFiles(data_dir=str(tmp_path / "data")),
            "parquet_outputs": ParquetOutputs(output_dir=str(tmp_path / "out")),
        },
    )
    (check,) = result.get_asset_check_evaluations()
    assert result.success
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "does not exist" in (check.description or "")
