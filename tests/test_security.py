"""Security: no credential in the repository or in logs; configured paths stay inside the data
directories; SQL takes values as parameters; analysts' notes leave the warehouse only when
marked shareable, and then only in that council's briefing pack.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pyarrow.parquet as pq
import pytest
import yaml
from dagster._serdes import serialize_value
from psycopg2 import sql as pg_sql

from assets.briefings import _shareable_notes
from assets.raw import build_raw_asset
from pipelines.catalogue import FileSpec, load_catalogue
from pipelines.definitions import all_assets
from pipelines.profiles import Settings, resources_for
from pipelines.resources import ParquetOutputs
from pipelines.sql import with_identifiers
from pipelines.synthetic import make_estate, write_estate

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("assets", "checks", "pipelines")
PRODUCTION_YAML = REPO / "deploy" / "production" / "dagster.yaml"
S114_CSV = "sources/registers/section114_notices.csv"
REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
NOTES_CSV = "sources/registers/analyst_notes.csv"
MALICIOUS = "Robert'); DROP TABLE raw.loads; --"


# --------------------------------------------------------------------------------------------
# (a) No credential in the repository, nor in logs
# --------------------------------------------------------------------------------------------

_WORDS = "pass" + "word|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
SECRET_ASSIGNMENT = re.compile(rf"(?i)\b({_WORDS})\b[\"']?\s*[:=]\s*(?P<value>[\"']?[^\s,;)}}]*)")
CREDENTIAL_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?P<value>[^/\s@'\"]+)@")
PG_ENV = re.compile(r"\bPGPASS" + r"WORD\s*=\s*(?P<value>\S+)")
KEY_MATERIAL = re.compile(
    "-----BEGIN [A-Z ]*PRIVATE " + "KEY-----|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
)


def _harmless(value: str) -> bool:
    """An empty value, a reference to where the secret comes from, or a placeholder."""
    value = value.strip("\"'")
    return (
        value in ("", "***", "None", "null", "...")
        or value.startswith(("env", "os.environ", "$", "{", "<", "getenv", "settings."))
        or re.fullmatch(r"[A-Z][A-Z0-9_]+", value) is not None  # names an environment variable
        or value.endswith(("(", "[", ","))  # a call or a subscript, not a literal
    )


def credential_findings(text: str) -> list[str]:
    found = []
    for pattern in (SECRET_ASSIGNMENT, CREDENTIAL_URL, PG_ENV):
        for match in pattern.finditer(text):
            if not _harmless(match.group("value")):
                found.append(match.group(0))
    found += [m.group(0) for m in KEY_MATERIAL.finditer(text)]
    return found


def repository_files() -> list[Path]:
    """Tracked files and new files not ignored (what the next commit would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in sorted(set(listed)) if (REPO / name).is_file()]


def test_the_scanner_finds_credentials() -> None:
    word = "pass" + "word"
    assert credential_findings(f'{word} = "hunter2"')
    assert credential_findings(f"db_{word}: hunter2") == []  # not a word of its own
    assert credential_findings(f"{word}: hunter2")
    sample = "s3" + "cret"  # built here, so this file does not hold a credential itself
    assert credential_findings(f"postgresql://early:{sample}@db.internal/ew")
    assert credential_findings("PGPASS" + f"WORD={sample} psql")
    assert credential_findings("api_" + f"key='{sample}'")
    assert credential_findings(f"{word}:\n  env: DAGSTER_PG_PASSWORD") == []
    assert credential_findings(f'"{word}": "DAGSTER_PG_PASSWORD"') == []
    assert credential_findings(f"{word} = os.environ['X']") == []
    assert credential_findings("postgresql://early@db.internal/ew") == []


def test_no_credential_in_the_repository() -> None:
    findings = []
    files = repository_files()
    assert len(files) > 50
    for path in files:
        if path.stat().st_size > 5_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a workbook or an image
        findings += [f"{path.relative_to(REPO)}: {f}" for f in credential_findings(text)]
    assert findings == []


def _walk(node: object, path: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", value
            yield from _walk(value, f"{path}.{key}")


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/production/dagster.yaml"])
def test_instance_configuration_takes_every_connection_setting_from_the_environment(
    config: str,
) -> None:
    document = yaml.safe_load((REPO / config).read_text(encoding="utf-8"))
    connection_keys = {
        "password", "username", "user", "hostname", "host", "port", "db_name",
        "postgres_url", "mysql_url", "url", "connection_string",
    }  # fmt: skip
    found = [
        (path, value)
        for path, value in _walk(document)
        if path.rsplit(".", 1)[-1] in connection_keys
    ]
    if "production" in config:
        assert {p.rsplit(".", 1)[-1] for p, _ in found} >= {"password", "username", "hostname"}
    for path, value in found:
        assert isinstance(value, dict) and set(value) == {"env"}, f"{config}{path}: {value!r}"


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def production_with_sentinel_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, Path]]:
    """The production instance (deploy/production/dagster.yaml) on a fresh PostgreSQL
    database, with DAGSTER_PG_PASSWORD set to a sentinel (the server trusts local
    connections, so any password connects)."""
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not accepting connections on 127.0.0.1:5432: {error}")
    admin.autocommit = True
    database = f"early_warning_secret_{uuid.uuid4().hex[:12]}"
    sentinel = f"pw-sentinel-{uuid.uuid4().hex}"
    with admin.cursor() as cursor:
        cursor.execute(pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(database)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    for name, value in {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USERNAME": PG["user"],
        "DAGSTER_PG_PASSWORD": sentinel,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield database, sentinel, home
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pg_sql.Identifier(database)
                )
            )
        admin.close()


def _all_text_in_postgres(database: str) -> str:
    """Every row of every table of the instance's database, as text."""
    connection = psycopg2.connect(dbname=database, connect_timeout=5, **PG)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            tables = [row[0] for row in cursor.fetchall()]
            chunks = []
            for table in tables:
                cursor.execute(
                    pg_sql.SQL("SELECT t::text FROM {} AS t").format(pg_sql.Identifier(table))
                )
                chunks += [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    assert len(tables) > 5
    return "\n".join(chunks)


def test_the_instance_password_never_reaches_logs_or_event_logs(
    production_with_sentinel_password: tuple[str, str, Path],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    database, sentinel, home = production_with_sentinel_password
    data_dir = tmp_path / "data"
    write_estate(data_dir, make_estate(scale=0.1, seed=3), seed=3)
    settings = Settings("local", data_dir, tmp_path / "w.duckdb", tmp_path / "output")
    keys = [
        "raw/council_register", "validated/council_register", "raw/council_gss_lookup",
        "validated/council_gss_lookup", "validated/council_code_map",
        "raw/section114_notices", "validated/section114_notices",
    ]  # fmt: skip
    instance = dg.DagsterInstance.get()
    try:
        assert sentinel in instance.run_storage.postgres_url  # the instance did use it
        result = dg.materialize(
            all_assets, selection=keys, instance=instance, resources=resources_for(settings)
        )
        assert result.success
        records = instance.get_records_for_run(result.run_id, limit=10_000).records
        events = "\n".join(serialize_value(r.event_log_entry) for r in records)
    finally:
        instance.dispose()
    captured = capfd.readouterr()
    assert len(records) > 50 and result.run_id in captured.err + captured.out
    assert sentinel not in captured.out + captured.err
    assert sentinel not in events
    assert sentinel not in _all_text_in_postgres(database)
    for path in [*home.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file():
            assert sentinel.encode() not in path.read_bytes(), path


@pytest.mark.slow  # Dagster retries the connection for about 15 s before it gives up
def test_a_failed_instance_connection_does_not_print_the_password(
    production_with_sentinel_password: tuple[str, str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, sentinel, home = production_with_sentinel_password
    monkeypatch.setenv("DAGSTER_PG_PORT", "1")  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().get_runs()"],
        env=os.environ | {"DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    assert "port 1 failed" in result.stderr or "Connection refused" in result.stderr
    assert sentinel not in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# (b) Paths from configuration stay inside the configured data directories
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative", ["../../etc/passwd", "/etc/passwd", "sources/../../outside.csv", "link.csv"]
)
def test_a_catalogue_path_outside_the_data_directory_is_refused(
    fictional, tmp_path: Path, relative: str
) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copy(fictional.path(S114_CSV), outside)
    (fictional.data_dir / "link.csv").symlink_to(outside)  # a link out of the data directory
    spec = load_catalogue()["section114_notices"]
    escaping = build_raw_asset(replace(spec, files=(FileSpec(path=relative),)))
    assets = [a for a in all_assets if escaping.key not in a.keys] + [escaping]
    loads_before = fictional.snapshot("raw.loads")

    result = fictional.materialize(["raw/section114_notices"], raise_on_error=False, assets=assets)

    assert not result.success
    message = fictional.failure("raw__section114_notices")
    assert "resolves outside the data directory" in message
    assert relative in message
    assert fictional.snapshot("raw.loads") == loads_before


@pytest.mark.parametrize(
    ("dataset", "quarter"),
    [("../watchlist", "2019Q1"), ("watchlist", "2019Q1/../../../x"), ("watchlist", "../2019Q1")],
)
def test_an_output_partition_cannot_point_outside_the_output_directory(
    tmp_path: Path, dataset: str, quarter: str
) -> None:
    with pytest.raises(ValueError, match="unexpected dataset"):
        ParquetOutputs(output_dir=str(tmp_path)).partition_path(dataset, quarter)


# --------------------------------------------------------------------------------------------
# (c) SQL takes values as parameters
# --------------------------------------------------------------------------------------------

SQL_STATEMENT = re.compile(
    r"(?is)\b(select\b.*\bfrom\b|insert\s+into\b|delete\s+from\b|update\s+[\w.\"{}]+\s+set\b"
    r"|create\s+(or\s+replace\s+)?(table|view|schema)\b|drop\s+(table|view|schema)\b"
    r"|alter\s+table\b|copy\s+[\w.{}]+\s+(from|to)\b|attach\s)"
)


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{...}" for v in node.values)
    return None


def formatted_sql(source: str) -> list[tuple[int, str, str]]:
    """Statements built by formatting: f-strings with placeholders, `%` or `+` on a literal,
    or `.format` on a literal, whose text reads as SQL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        text, how = None, ""
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue) for v in node.values
        ):
            text, how = _literal(node), "f-string"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            text = " ".join(t for t in (_literal(node.left), _literal(node.right)) if t)
            how = "% formatting" if isinstance(node.op, ast.Mod) else "concatenation"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
        ):
            text, how = _literal(node.func.value), ".format"
        if text and SQL_STATEMENT.search(text):
            found.append((node.lineno, how, text[:100]))
    return found


def test_the_sql_scanner_finds_formatted_statements() -> None:
    bad = [
        "con.execute(f\"SELECT * FROM t WHERE code = '{code}'\")",
        'con.execute("DELETE FROM t WHERE id = %s" % ident)',
        'con.execute("INSERT INTO t VALUES (" + value + ")")',
        "con.execute(\"UPDATE t SET name = '{}'\".format(name))",
        'q = f"""\n  select name\n  from {table}\n"""',
    ]
    for snippet in bad:
        assert formatted_sql(snippet), snippet
    good = [
        'con.execute(load_sql("raw/find_load"), {"source_id": source_id})',
        'con.execute(with_identifiers("raw/count_rows", table=spec.raw_table))',
        'con.execute("SELECT count(*) FROM t WHERE code = ?", [code])',
        'log.info(f"{source_id}: selected {n} rows from {path}")',
    ]
    for snippet in good:
        assert formatted_sql(snippet) == [], snippet


def test_no_sql_is_built_by_formatting_in_the_code() -> None:
    findings = [
        f"{path.relative_to(REPO)}:{line} ({how}) {text!r}"
        for directory in CODE_DIRS
        for path in sorted((REPO / directory).rglob("*.py"))
        for line, how, text in formatted_sql(path.read_text(encoding="utf-8"))
    ]
    assert findings == [], "SQL belongs in sql/ (load_sql), values in parameters:\n" + "\n".join(
        findings
    )


@pytest.mark.parametrize(
    "identifier",
    [
        "raw.loads; DROP TABLE raw.loads",
        "x' OR '1'='1",
        "raw.loads)",
        "raw.x --",
        "raw.loads WHERE false UNION SELECT 1",
        "name VARCHAR); DROP TABLE raw.loads; --",
        "name VARCHAR,\n    other TEXT",
    ],
)
def test_only_plain_identifiers_are_substituted_into_sql(identifier: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        with_identifiers("raw/count_rows", table=identifier)


def test_catalogue_identifiers_and_column_lists_are_substituted() -> None:
    statement = with_identifiers(
        "raw/create_source_table",
        table="raw.example",
        columns="council_code VARCHAR,\n    value VARCHAR",
    )
    assert "CREATE TABLE IF NOT EXISTS raw.example" in statement
    assert "council_code VARCHAR,\n    value VARCHAR," in statement


def test_a_malicious_name_is_stored_verbatim_and_nothing_is_dropped(fictional, estate) -> None:
    """A council name written to drop a table, in the register (reaching the published
    watchlist) and in the notices register, is data like any other."""
    council = estate.councils[7]
    fictional.rewrite_csv(
        REGISTER_CSV,
        lambda rows: rows[8].__setitem__(rows[0].index("nice-name"), MALICIOUS),
    )
    fictional.rewrite_csv(S114_CSV, lambda rows: rows[1].__setitem__(1, MALICIOUS))
    tables_before = set(
        fictional.query("SELECT table_schema, table_name FROM information_schema.tables")
    )
    loads_before = fictional.snapshot("raw.loads")
    resources = resources_for(
        Settings("local", fictional.data_dir, fictional.database, fictional.database.parent / "out")
    )
    ingest = [
        "raw/council_register", "validated/council_register", "raw/council_gss_lookup",
        "validated/council_gss_lookup", "validated/council_code_map",
        "raw/section114_notices", "validated/section114_notices", "indicators/peer_groups",
    ]  # fmt: skip
    assert dg.materialize(all_assets, selection=ingest, resources=resources).success
    quarter = ["indicators/indicator_values", "scores/indicator_scores", "watchlist/watchlist"]
    assert dg.materialize(
        all_assets, selection=quarter, partition_key="2019-01-01", resources=resources
    ).success
    assert tables_before <= set(
        fictional.query("SELECT table_schema, table_name FROM information_schema.tables")
    )
    assert loads_before < fictional.snapshot("raw.loads")  # two new loads, the old ones kept
    assert fictional.query(
        "SELECT nice_name FROM raw.council_register WHERE gss_code = ? AND nice_name = ?",
        [council.gss_code, MALICIOUS],
    ) == [(MALICIOUS,)]
    assert fictional.query(
        "SELECT council_name FROM validated.council_register WHERE gss_code = ?",
        [council.gss_code],
    ) == [(MALICIOUS,)]
    assert fictional.query(
        "SELECT council_name FROM validated.section114_notices WHERE source_row_number = 2"
    ) == [(MALICIOUS,)]
    watchlist = pq.read_table(
        fictional.database.parent / "out" / "watchlist" / "quarter=2019Q1" / "part-0.parquet"
    ).to_pylist()
    assert [r["council_name"] for r in watchlist if r["council_code"] == council.gss_code] == [
        MALICIOUS
    ]


# --------------------------------------------------------------------------------------------
# (d) Analysts' notes: only shareable ones, only in the council's own pack
# --------------------------------------------------------------------------------------------


def test_notes_selected_for_a_pack_are_shareable_and_dated_by_the_as_of_date() -> None:
    with duckdb.connect() as connection:
        assert _shareable_notes(connection, date(2019, 3, 31), ["E06900001"]) is None
        connection.execute("CREATE SCHEMA validated")
        connection.execute(
            "CREATE TABLE validated.analyst_notes (council_code VARCHAR, note_date DATE, "
            "category VARCHAR, note VARCHAR, shareable BOOLEAN, source_path VARCHAR, "
            "source_row_number BIGINT)"
        )
        connection.execute(
            "INSERT INTO validated.analyst_notes VALUES "
            "('E06900001', '2019-01-01', 'media', 'shared', true, 'n.csv', 2), "
            "('E06900001', '2019-02-01', 'media', 'private', false, 'n.csv', 3), "
            "('E06900001', '2019-04-01', 'media', 'later', true, 'n.csv', 4), "
            "('E06900001', '2019-03-31', 'finance', 'on the day', true, 'n.csv', 5), "
            "('E06900002', '2019-01-01', 'media', 'another council', true, 'n.csv', 6), "
            "('E06900001', '2019-01-02', 'media', 'unknown', NULL, 'n.csv', 7)"
        )
        notes = _shareable_notes(connection, date(2019, 3, 31), ["E06900001", "E06900003"])
    assert notes is not None
    assert [n["note"] for n in notes["E06900001"]] == ["on the day", "shared"]
    assert notes["E06900003"] == []


NOTE_DATES = {  # note -> (date, shareable)
    "shared": ("2018-06-01", "yes"),
    "later": ("2019-02-10", "Yes"),
    "private": ("2018-07-01", "no"),
    "maybe": ("2018-08-01", "maybe"),
    "other": ("2018-05-01", "true"),
}


@pytest.mark.slow
def test_non_shareable_notes_never_leave_the_warehouse(tmp_path: Path) -> None:
    """Through `early-warning run` and `early-warning brief`: every output file (Parquet read
    back, HTML, CSV, Markdown, Data Docs) is searched for each note's sentinel."""
    estate = make_estate(scale=0.1, seed=9)
    data_dir = tmp_path / "data"
    write_estate(data_dir, estate, seed=9)
    council, other = estate.councils[20], estate.councils[21]
    sentinel = {name: f"NOTE{name.upper()}{uuid.uuid4().hex[:10]}" for name in NOTE_DATES}
    rows = [
        [
            "council_code",
            "council_name",
            "note_date",
            "category",
            "note",
            "shareable",
            "recorded_by",
        ]
    ]
    for name, (when, shareable) in NOTE_DATES.items():
        code = other.gss_code if name == "other" else council.gss_code
        rows.append([code, "x", when, "leadership", f"Note {sentinel[name]} here", shareable, "A"])
    with (data_dir / NOTES_CSV).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    env = {
        k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("EARLY_")
    }
    env["EARLY_WARNING_DATA_DIR"] = str(data_dir)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout + done.stderr

    printed = cli("run", "--from", "2018Q4", "--to", "2019Q1")
    for quarter in ("2018Q4", "2019Q1"):
        for code in (council.gss_code, other.gss_code):
            printed += cli("brief", "--quarter", quarter, "--council", code)

    out = data_dir / "output"
    found: dict[str, set[str]] = {name: set() for name in sentinel}
    files = 0
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        files += 1
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        for name, mark in sentinel.items():
            if mark in text:
                found[name].add(str(path.relative_to(out)))
    packs = {
        q: out / "briefings" / f"quarter={q}" / f"{council.gss_code}.html"
        for q in ("2018Q4", "2019Q1")
    }
    rel = {q: str(p.relative_to(out)) for q, p in packs.items()}
    other_packs = {
        str(p.with_name(f"{other.gss_code}.html").relative_to(out)) for p in packs.values()
    }
    assert files > 20 and (out / "data_docs" / "index.html").is_file()
    assert found["private"] == set(), found
    assert found["maybe"] == set(), found
    assert found["shared"] == {rel["2018Q4"], rel["2019Q1"]}
    assert found["later"] == {rel["2019Q1"]}  # dated after 2018Q4's as-of date
    assert found["other"] == other_packs  # only in its own council's packs
    assert not any(f.endswith(".parquet") for names in found.values() for f in names)
    section = packs["2019Q1"].read_text(encoding="utf-8").split('id="soft-intelligence"')[1]
    assert sentinel["shared"] in section.split("<h2")[0]
    for name in ("private", "maybe"):
        assert sentinel[name] not in printed
    # The unclear note was quarantined, not published by accident.
    with duckdb.connect(str(data_dir / "warehouse" / "early_warning.duckdb"), read_only=True) as c:
        assert c.execute(
            "SELECT column_name, failure_value, disposition FROM validated.quarantine "
            "WHERE source_id = 'analyst_notes'"
        ).fetchall() == [("shareable", "maybe", "rejected")]
