"""The production instance (deploy/production/dagster.yaml) against a real PostgreSQL.

Each test module run creates its own database on 127.0.0.1:5432, points the DAGSTER_PG_*
variables at it, materialises the ingest job's assets through an instance built from the
production file, reads the run back from Postgres (instance APIs and raw SQL) and drops the
database. Nothing is skipped: with Postgres down the tests fail and say so (`.ci/run` starts it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml
from concurrent_runs import materialise_twice_at_once, overlapping
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from psycopg2 import sql

from pipelines.definitions import defs
from pipelines.profiles import PROJECT_ROOT, Settings, resources_for

PRODUCTION_YAML = PROJECT_ROOT / "deploy" / "production" / "dagster.yaml"
SHIPPED_SOURCES = PROJECT_ROOT / "data" / "sources"
JOB_NAME = "ingest_and_validate"
POOL = "warehouse"
# event_logs.dagster_event_type holds these values (runs are still "PIPELINE_*" there).
RUN_START = dg.DagsterEventType.RUN_START.value
RUN_SUCCESS = dg.DagsterEventType.RUN_SUCCESS.value
STEP_START = dg.DagsterEventType.STEP_START.value
STEP_SUCCESS = dg.DagsterEventType.STEP_SUCCESS.value
MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION.value
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _admin_connection() -> psycopg2.extensions.connection:
    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not accepting connections on {PG['host']}:{PG['port']} as "
            f"{PG['user']!r}: {error}. Start it (`.ci/run` does: pg_ctlcluster "
            "--skip-systemctl-redirect $(ls /etc/postgresql) main start) and run again.",
            pytrace=False,
        )
    connection.autocommit = True
    return connection


def _query(database: str, statement: str, params: tuple = ()) -> list[tuple]:
    connection = psycopg2.connect(dbname=database, connect_timeout=5, **PG)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        connection.close()


@dataclass(frozen=True)
class Production:
    database: str
    home: Path
    env: dict[str, str]
    data_dir: Path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def settings(self, warehouse: Path) -> Settings:
        return Settings(
            profile="local",
            data_dir=self.data_dir,
            warehouse_path=warehouse,
            output_dir=self.data_dir / "output",
        )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    admin = _admin_connection()
    database = f"early_warning_test_{uuid.uuid4().hex[:16]}"
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    root = tmp_path_factory.mktemp("production")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    data_dir = root / "data"
    shutil.copytree(SHIPPED_SOURCES, data_dir / "sources")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USERNAME": PG["user"],
        "DAGSTER_PG_PASSWORD": "",  # trust authentication on this machine
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            yield Production(database, home, env, data_dir)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
        admin.close()


def _ingest_job() -> dg.JobDefinition:
    return defs.resolve_job_def(JOB_NAME)


def _job_asset_keys() -> set[dg.AssetKey]:
    return set(_ingest_job().asset_layer.selected_asset_keys)


def _job_check_keys() -> set[dg.AssetCheckKey]:
    keys = _job_asset_keys()
    graph = _ingest_job().asset_layer.asset_graph
    return {check for check in graph.asset_check_keys if check.asset_key in keys}


def _assets_for(keys: set[dg.AssetKey]) -> list:
    """The definitions as written (resources unbound), so a test can supply its own: the
    assets, and the separately defined checks (data quality, freshness) that target them."""
    assets = [
        assets_def
        for assets_def in defs.assets or []
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.keys & keys
    ]
    checks = [
        checks_def
        for checks_def in defs.asset_checks or []
        if any(check.asset_key in keys for check in checks_def.check_keys)
    ]
    return [*assets, *checks]


@dataclass(frozen=True)
class Materialised:
    run_id: str
    job_name: str
    asset_keys: set[dg.AssetKey]
    check_keys: set[dg.AssetCheckKey]
    warehouse: Path


@pytest.fixture(scope="module")
def materialised(production: Production) -> Materialised:
    keys = _job_asset_keys()
    assert keys, f"job {JOB_NAME} selects no assets"
    warehouse = production.home.parent / "warehouse" / "early_warning.duckdb"
    instance = production.instance()
    try:
        result = dg.materialize(
            _assets_for(keys),
            selection=sorted(keys),
            instance=instance,
            resources=resources_for(production.settings(warehouse)),
            raise_on_error=False,
        )
        failures = [e.message for e in result.all_events if e.is_step_failure]
        assert result.success, f"materialisation failed: {failures}"
        return Materialised(
            run_id=result.run_id,
            job_name=result.dagster_run.job_name,
            asset_keys=keys,
            check_keys=_job_check_keys(),
            warehouse=warehouse,
        )
    finally:
        instance.dispose()


def test_production_yaml_reads_credentials_from_the_environment_only() -> None:
    db = yaml.safe_load(PRODUCTION_YAML.read_text())["storage"]["postgres"]["postgres_db"]
    for field, variable in {
        "hostname": "DAGSTER_PG_HOST",
        "port": "DAGSTER_PG_PORT",
        "db_name": "DAGSTER_PG_DB",
        "username": "DAGSTER_PG_USERNAME",
        "password": "DAGSTER_PG_PASSWORD",
    }.items():
        assert db[field] == {"env": variable}, f"{field} must come from ${variable}"


def test_instance_is_postgres_backed_with_one_warehouse_writer(production: Production) -> None:
    instance = production.instance()
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert production.database in instance.run_storage.postgres_url
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert not instance.telemetry_enabled
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config is not None
        assert concurrency.run_queue_config.max_concurrent_runs == 1
        assert instance.event_log_storage.supports_global_concurrency_limits
    finally:
        instance.dispose()
    tables = {
        row[0]
        for row in _query(
            production.database,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        )
    }
    assert {"runs", "event_logs", "jobs", "concurrency_limits"} <= tables


def test_run_and_events_read_back_through_a_new_instance(
    production: Production, materialised: Materialised
) -> None:
    # A new instance object: what it sees came from Postgres, not from the writer's memory.
    instance = production.instance()
    try:
        run = instance.get_run_by_id(materialised.run_id)
        assert run is not None
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert materialised.run_id in {r.run_id for r in instance.get_runs()}

        materialisations = instance.get_records_for_run(
            materialised.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        materialised_keys = {r.event_log_entry.dagster_event.asset_key for r in materialisations}
        assert materialised_keys == materialised.asset_keys

        evaluations = instance.get_records_for_run(
            materialised.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        evaluated = {
            r.event_log_entry.dagster_event.event_specific_data.asset_check_key for r in evaluations
        }
        assert evaluated == materialised.check_keys

        for key in materialised.asset_keys:
            latest = instance.get_latest_materialization_event(key)
            assert latest is not None, key
            assert latest.run_id == materialised.run_id
            # The metadata the asset reported came back through Postgres intact.
            assert latest.asset_materialization.metadata, key
    finally:
        instance.dispose()


def test_run_and_events_are_rows_in_postgres(
    production: Production, materialised: Materialised
) -> None:
    runs = _query(
        production.database,
        "SELECT status, pipeline_name FROM runs WHERE run_id = %s",
        (materialised.run_id,),
    )
    assert runs == [("SUCCESS", materialised.job_name)]

    events = _query(
        production.database,
        "SELECT dagster_event_type, step_key, asset_key FROM event_logs WHERE run_id = %s",
        (materialised.run_id,),
    )
    types = [row[0] for row in events]
    assert types.count(RUN_START) == 1
    assert types.count(RUN_SUCCESS) == 1
    assert dg.DagsterEventType.STEP_FAILURE.value not in types
    started = {row[1] for row in events if row[0] == STEP_START}
    succeeded = {row[1] for row in events if row[0] == STEP_SUCCESS}
    assert started and started == succeeded
    stored_keys = {
        dg.AssetKey.from_db_string(row[2]) for row in events if row[0] == MATERIALIZATION
    }
    assert stored_keys == materialised.asset_keys

    checks = _query(
        production.database,
        "SELECT asset_key, check_name, execution_status FROM asset_check_executions "
        "WHERE run_id = %s",
        (materialised.run_id,),
    )
    assert {
        dg.AssetCheckKey(dg.AssetKey.from_db_string(key), name) for key, name, _ in checks
    } == materialised.check_keys
    assert {status for *_, status in checks} <= {"SUCCEEDED", "FAILED"}

    # The run claimed the pool, which the instance created with the configured default limit.
    assert _query(
        production.database,
        'SELECT "limit", using_default_limit FROM concurrency_limits WHERE concurrency_key = %s',
        (POOL,),
    ) == [(1, True)]
    held = _query(
        production.database,
        "SELECT run_id FROM concurrency_slots WHERE concurrency_key = %s AND NOT deleted",
        (POOL,),
    )
    assert held == [(None,)], "one slot, released when the run finished"


def test_warehouse_rows_trace_back_to_the_postgres_run(materialised: Materialised) -> None:
    with duckdb.connect(str(materialised.warehouse), read_only=True) as connection:
        run_ids = {row[0] for row in connection.execute("SELECT run_id FROM raw.loads").fetchall()}
        loads = connection.execute("SELECT count(*) FROM raw.loads").fetchone()
    assert run_ids == {materialised.run_id}
    assert loads is not None and loads[0] > 0


def test_two_concurrent_runs_never_write_the_warehouse_at_once(
    production: Production, tmp_path: Path
) -> None:
    graph = _ingest_job().asset_layer.asset_graph
    keys = _job_asset_keys()
    # Assets with no upstream in the job: both runs can start on them at once.
    roots = sorted(k for k in keys if not (graph.get(k).parent_keys & keys))[:4]
    assert len(roots) >= 2
    # As docs/OPERATIONS.md asks of a production instance: the warehouse pool is set once at
    # setup. Left to `default_limit`, Dagster tops the pool up to its default inside each
    # claiming transaction, and two runs starting in the same instant can each add a slot.
    with production.instance() as instance:
        instance.event_log_storage.set_concurrency_slots("warehouse", 1)
    env = {
        **os.environ,
        **production.env,
        "EARLY_WARNING_PROFILE": "local",
        "EARLY_WARNING_DATA_DIR": str(production.data_dir),
        "EARLY_WARNING_WAREHOUSE": str(tmp_path / "shared.duckdb"),
        "EARLY_WARNING_OUTPUT_DIR": str(tmp_path / "output"),
    }
    run_ids, _ = materialise_twice_at_once(
        tmp_path / "barrier", [k.path for k in roots], env, timeout=300
    )

    def interval(run_id: str, start: str, end: str) -> dict[str | None, list[datetime]]:
        rows = _query(
            production.database,
            "SELECT step_key, dagster_event_type, timestamp FROM event_logs "
            "WHERE run_id = %s AND dagster_event_type IN (%s, %s) ORDER BY id",
            (run_id, start, end),
        )
        spans: dict[str | None, list[datetime]] = {}
        for step_key, _, timestamp in rows:
            spans.setdefault(step_key, []).append(timestamp)
        return spans

    first, second = run_ids
    runs = [interval(run_id, RUN_START, RUN_SUCCESS)[None] for run_id in run_ids]
    # The runs did overlap in time, so the pool had something to prevent...
    assert runs[0][0] < runs[1][1] and runs[1][0] < runs[0][1], runs
    steps = [interval(run_id, STEP_START, STEP_SUCCESS) for run_id in run_ids]
    assert all(len(s) == len(roots) for s in steps)
    # ...and no step of one run was writing while a step of the other was.
    spans = [{key: (times[0], times[1]) for key, times in s.items()} for s in steps]
    assert overlapping(*spans) == [], (first, second)
    blocked = _query(
        production.database,
        "SELECT count(*) FROM event_logs WHERE run_id IN (%s, %s) "
        "AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s",
        (first, second, f"%blocked by limit for pool {POOL}%"),
    )
    assert blocked[0][0] >= 1, "neither run ever waited for the warehouse pool"
