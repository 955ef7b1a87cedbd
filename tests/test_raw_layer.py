"""The raw layer, through Dagster: every file landed exactly as published, with lineage; a file
already loaded (same hash) is a no-op; a changed file is a new load beside the old one; raw rows
are never updated or deleted."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from datetime import date

from pipelines.catalogue import load_catalogue
from pipelines.synthetic import OLD_RS_FILES, PRUDENTIAL_YEARS, RS_FILES, Estate

S114_CSV = "sources/registers/section114_notices.csv"
REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
S114 = ["raw/section114_notices", "validated/section114_notices"]
RS = ["raw/revenue_outturn", "validated/revenue_outturn"]
VALIDATED_SIZES = (
    "SELECT table_name, estimated_size FROM duckdb_tables() "
    "WHERE schema_name = 'validated' AND table_name <> 'quarantine' ORDER BY 1"
)
LINEAGE = ["load_id", "source_path", "file_sha256", "loaded_at", "source_row_number"]


def _raw_tables() -> list[str]:
    return [f"raw.{source_id}" for source_id in load_catalogue()]


def _current_rows(pipeline, source_id: str) -> int:
    return pipeline.scalar(
        f"SELECT count(*) FROM raw.{source_id} r JOIN raw.current_loads c "
        "ON c.load_id = r.load_id AND c.source_path = r.source_path"
    )


# --------------------------------------------------------------------------------------------
# What a load records
# --------------------------------------------------------------------------------------------


def test_raw_tables_hold_text_with_lineage(fictional_base):
    catalogue = load_catalogue()
    for source_id, spec in catalogue.items():
        columns = dict(
            fictional_base.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
                [source_id],
            )
        )
        assert list(columns) == [*LINEAGE, "source_column", *spec.raw_columns, "extra"]
        # Exactly as published: every source column is text; typing is the next layer's job.
        assert {columns[c] for c in spec.raw_columns} == {"VARCHAR"}, source_id
        assert columns["extra"] == "JSON"
        assert columns["source_row_number"] == "BIGINT"


def test_one_load_per_file_hashed_and_counted(fictional_base, estate: Estate, csv_records):
    catalogue = load_catalogue()
    loads = fictional_base.dicts("SELECT * FROM raw.loads")
    by_path = {(load["source_id"], load["source_path"]): load for load in loads}
    files = {(s.id, f.path): (s, f) for s in catalogue.values() for f in s.files}
    assert set(by_path) == set(files)
    n = len(estate.councils)
    billers = sum(c.authority_type != "CTY" for c in estate.councils)
    by_construction = {
        "council_register": n,
        "council_gss_lookup": n,
        "council_name_lookup": 2 * n,
        "nearest_neighbours": n,
        "revenue_outturn": n,  # per file
        "council_tax_receipts": (billers + 1) * 52,  # the England row too, cell by cell
        "section114_notices": 5,
    }
    for (source_id, path), load in by_path.items():
        spec, file = files[(source_id, path)]
        content = fictional_base.path(path).read_bytes()
        assert load["file_sha256"] == hashlib.sha256(content).hexdigest()
        assert load["file_bytes"] == len(content)
        if path.endswith(".xls") or source_id == "la_finance_metrics":
            # The 2010-11 to 2014-15 workbooks and the finance JSON are written with no
            # councils (tests/test_bad_input_corpus_finance.py writes rows into them).
            assert load["row_count"] == 0, path
        elif source_id in by_construction:
            assert load["row_count"] == by_construction[source_id], source_id
        if spec.layout == "csv_table":
            records = csv_records(fictional_base.path(path))
            # An unpivoted table holds one raw row per period cell of each record.
            cells = 1 if spec.unpivot is None else len(PRUDENTIAL_YEARS)  # the only one
            assert load["row_count"] == len(records) * cells, source_id
        assert load["period"] == file.period
        assert load["theme"] == file.theme
        assert load["published"] == file.published
        assert json.loads(load["header_map"]) == spec.columns
        assert load["run_id"] == fictional_base.result.run_id
        stored = fictional_base.query(
            f"SELECT load_id, file_sha256, count(*) FROM raw.{source_id} "
            "WHERE source_path = ? GROUP BY ALL",
            [path],
        )
        assert stored == (
            [(load["load_id"], load["file_sha256"], load["row_count"])] if load["row_count"] else []
        )
    receipts = catalogue["council_tax_receipts"].files[0].path
    assert by_path[("council_tax_receipts", receipts)]["published"] == date(2023, 6, 21)
    social_care = sum(c.authority_type in {"CTY", "UA", "MD", "LBO"} for c in estate.councils)
    asc = catalogue["data_explorer_metrics"].files[0].path
    assert by_path[("data_explorer_metrics", asc)]["row_count"] == social_care * 7 * 8


def test_csv_rows_keep_their_line_and_their_text(fictional_base, estate: Estate):
    register = fictional_base.read_csv(REGISTER_CSV)
    header = register[0]
    rows = fictional_base.dicts(
        "SELECT source_row_number, gss_code, population_2020, extra "
        "FROM raw.council_register ORDER BY source_row_number"
    )
    assert [r["source_row_number"] for r in rows] == list(range(2, len(estate.councils) + 2))
    for row, record in zip(rows, register[1:], strict=True):
        assert row["gss_code"] == record[header.index("gss-code")]
        # The text as published ("123456.0"), not a number.
        assert row["population_2020"] == record[header.index("pop-2020")]
        assert row["population_2020"].endswith(".0")
        extra = json.loads(row["extra"])
        # Columns the catalogue does not name are kept too.
        assert extra["notes"] == "fictional council for testing"
        assert extra["current-authority"] == "True"
        assert set(extra) == {"county-la", "combined-authority", "notes", "current-authority"}


def test_workbook_rows_keep_their_spreadsheet_row(fictional_base, estate: Estate, rs_values):
    path = f"sources/bbc_council_reserves/{RS_FILES['2016-17']}"
    rows = fictional_base.dicts(
        "SELECT source_row_number, ecode, council_code, council_name, authority_class, "
        "net_revenue_expenditure, unallocated_reserves_end "
        "FROM raw.revenue_outturn WHERE source_path = ? ORDER BY source_row_number",
        [path],
    )
    assert len(rows) == len(estate.councils)
    for i, (row, council) in enumerate(zip(rows, estate.councils, strict=True)):
        assert row["source_row_number"] == 8 + i  # header on row 7
        assert (row["ecode"], row["council_code"], row["council_name"]) == (
            council.ecode,
            council.gss_code,
            council.name,
        )
        figures = rs_values[council.gss_code]["2016-17"]
        assert float(row["net_revenue_expenditure"]) == figures["nre"]
        assert float(row["unallocated_reserves_end"]) == figures["unallocated_end"]


def test_raw_asset_metadata_counts(fictional_base, estate: Estate):
    metadata = fictional_base.metadata("raw/revenue_outturn")
    n = len(estate.councils)
    assert metadata["dagster/row_count"] == 3 * n
    assert metadata["rows_loaded_this_run"] == 3 * n
    assert metadata["raw_rows_all_loads"] == 3 * n
    assert metadata["table"] == "raw.revenue_outturn"
    for name in RS_FILES.values():
        assert f"{name} |" in metadata["files"]
    # And the five 2010-11 to 2014-15 workbooks, written with no councils.
    assert metadata["files"].count("| loaded |") == 3 + len(OLD_RS_FILES)


# --------------------------------------------------------------------------------------------
# Same hash: a no-op. Changed file: a new load beside the old one. Never updated or deleted.
# --------------------------------------------------------------------------------------------


def test_materialising_again_loads_nothing_new(fictional):
    loads = fictional.snapshot("raw.loads")
    tables = {t: fictional.snapshot(t) for t in _raw_tables()}
    validated = fictional.query(VALIDATED_SIZES)
    quarantine = fictional.query(
        "SELECT * EXCLUDE (quarantined_at) FROM validated.quarantine ORDER BY ALL"
    )

    result = fictional.materialize()

    assert result.success
    assert fictional.snapshot("raw.loads") == loads
    for table, rows in tables.items():
        assert fictional.snapshot(table) == rows, table
    for source_id in load_catalogue():
        metadata = fictional.metadata(f"raw/{source_id}")
        assert metadata["rows_loaded_this_run"] == 0
        assert metadata["raw_rows_all_loads"] == metadata["dagster/row_count"]
        assert "| loaded |" not in metadata["files"]
        assert "already loaded (same hash)" in metadata["files"]
    # Validation of the same loads gives the same tables.
    assert fictional.query(VALIDATED_SIZES) == validated
    assert (
        fictional.query("SELECT * EXCLUDE (quarantined_at) FROM validated.quarantine ORDER BY ALL")
        == quarantine
    )


def test_changed_file_is_a_new_load_beside_the_old(fictional, s114_rows):
    [(old_load,)] = fictional.query(
        "SELECT load_id FROM raw.loads WHERE source_id = 'section114_notices'"
    )
    old_rows = fictional.snapshot("raw.section114_notices")
    other_loads = fictional.snapshot("raw.loads")

    corrected = copy.deepcopy(s114_rows)
    corrected[0][2] = "2018-03-02"  # a corrected date
    corrected.append([*corrected[1][:2], "2024-01-01", "day", "9", "", "https://e.org/x", "q"])
    fictional.write_s114(corrected)
    fictional.materialize(S114)

    loads = fictional.dicts(
        "SELECT load_id, row_count FROM raw.loads WHERE source_id = 'section114_notices' "
        "ORDER BY loaded_at"
    )
    assert [load["row_count"] for load in loads] == [5, 6]
    assert loads[0]["load_id"] == old_load
    new_load = loads[1]["load_id"]
    # Old rows untouched, new rows beside them; the other sources' loads untouched.
    rows = fictional.snapshot("raw.section114_notices")
    assert old_rows < rows and len(rows) == 11
    assert other_loads < fictional.snapshot("raw.loads")
    assert fictional.query(
        "SELECT load_id FROM raw.current_loads WHERE source_id = 'section114_notices'"
    ) == [(new_load,)]
    # The validated layer reads the new load only.
    validated = fictional.query("SELECT DISTINCT load_id FROM validated.section114_notices")
    assert validated == [(new_load,)]
    assert fictional.query(
        "SELECT notice_date FROM validated.section114_notices WHERE source_row_number = 2"
    ) == [(date(2018, 3, 2),)]
    assert fictional.scalar("SELECT count(*) FROM validated.section114_notices") == 6
    metadata = fictional.metadata("raw/section114_notices")
    assert metadata["rows_loaded_this_run"] == 6
    assert metadata["dagster/row_count"] == 6
    assert metadata["raw_rows_all_loads"] == 11

    # Putting the original file back is not a third load: the first is current again.
    fictional.write_s114(s114_rows)
    fictional.materialize(S114)
    assert (
        fictional.scalar("SELECT count(*) FROM raw.loads WHERE source_id = 'section114_notices'")
        == 2
    )
    assert fictional.query(
        "SELECT load_id FROM raw.current_loads WHERE source_id = 'section114_notices'"
    ) == [(old_load,)]
    assert fictional.query("SELECT DISTINCT load_id FROM validated.section114_notices") == [
        (old_load,)
    ]
    assert fictional.snapshot("raw.section114_notices") == rows
    assert fictional.metadata("raw/section114_notices")["rows_loaded_this_run"] == 0


def test_one_changed_file_of_a_multi_file_source(fictional, estate: Estate, rs_values):
    before = dict(
        fictional.query(
            "SELECT source_path, load_id FROM raw.current_loads WHERE source_id = 'revenue_outturn'"
        )
    )
    old_rows = fictional.snapshot("raw.revenue_outturn")
    values = copy.deepcopy(rs_values)
    first = estate.councils[0].gss_code
    values[first]["2016-17"]["unallocated_end"] = 4321
    changed = f"sources/bbc_council_reserves/{RS_FILES['2016-17']}"
    fictional.write_rs("2016-17", estate, values)

    fictional.materialize(RS)

    after = dict(
        fictional.query(
            "SELECT source_path, load_id FROM raw.current_loads WHERE source_id = 'revenue_outturn'"
        )
    )
    assert after.keys() == before.keys()
    assert {p for p in after if after[p] != before[p]} == {changed}
    assert old_rows < fictional.snapshot("raw.revenue_outturn")
    n = len(estate.councils)
    assert fictional.scalar("SELECT count(*) FROM raw.revenue_outturn") == 4 * n
    by_path = dict(
        fictional.query(
            "SELECT source_path, any_value(load_id) FROM validated.revenue_outturn GROUP BY 1"
        )
    )
    # The 2010-11 to 2014-15 workbooks are written with no councils: no validated rows.
    assert by_path == {p: load for p, load in after.items() if not p.endswith(".xls")}
    assert fictional.query(
        "SELECT unallocated_reserves_end FROM validated.revenue_outturn "
        "WHERE council_code = ? AND period = '2016-17'",
        [first],
    ) == [(4321.0,)]
    assert fictional.scalar("SELECT count(*) FROM validated.revenue_outturn") == 3 * n
    assert fictional.metadata("raw/revenue_outturn")["rows_loaded_this_run"] == n


def test_the_same_file_bytes_from_two_runs_of_different_data_dirs(fictional, tmp_path):
    """Loads are keyed by content: a second data directory with the same files adds nothing."""
    other = tmp_path / "other-data"
    shutil.copytree(fictional.data_dir, other)
    loads = fictional.snapshot("raw.loads")
    fictional.data_dir = other
    fictional.materialize(["raw/council_register"])
    assert fictional.snapshot("raw.loads") == loads
    assert _current_rows(fictional, "council_register") == fictional.scalar(
        "SELECT count(*) FROM raw.council_register"
    )


def test_last_years_file_republished_under_this_years_name_is_caught(fictional):
    """The same bytes at a second path are a load of their own (never the first path's load
    reused with its period), so last year's workbook under this year's name fails on its sheet
    instead of passing 2015-16 figures off as 2016-17."""
    rs = {year: fictional.path(f"sources/bbc_council_reserves/{n}") for year, n in RS_FILES.items()}
    loads_before = fictional.snapshot("raw.loads")
    shutil.copy(rs["2015-16"], rs["2016-17"])
    result = fictional.materialize(RS, raise_on_error=False)
    assert not result.success
    message = fictional.failure("raw__revenue_outturn", result)
    assert "RS_2016-17_data_by_LA.xlsx" in message
    assert "sheet 'RS LA Data 2016-17' not found" in message
    assert fictional.snapshot("raw.loads") == loads_before  # nothing landed from it


def test_first_run_on_an_empty_warehouse_touches_only_what_it_lands(fresh, csv_records):
    assert not fresh.database.exists()
    result = fresh.materialize(["raw/council_register", "raw/section114_notices"])
    assert result.success
    tables = fresh.query("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL")
    assert tables == [
        ("raw", "council_register"),
        ("raw", "current_loads"),
        ("raw", "loads"),
        ("raw", "section114_notices"),
    ]
    for source_id, relative in [
        ("council_register", "sources/mysociety_la_codes/uk_local_authorities_current.csv"),
        ("section114_notices", S114_CSV),
    ]:
        expected = len(csv_records(fresh.path(relative)))
        assert fresh.scalar(f"SELECT count(*) FROM raw.{source_id}") == expected
        assert fresh.query(
            "SELECT source_path, row_count FROM raw.loads WHERE source_id = ?", [source_id]
        ) == [(relative, expected)]
