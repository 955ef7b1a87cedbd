"""Bad input, through Dagster: structural errors fail the asset naming file and reason; row errors
are quarantined with file, row, column, check and value while the other rows go on.

Each test takes a private copy of the materialised fictional estate, breaks one file the way
real files break, and re-materialises only that source.
"""

from __future__ import annotations

import copy
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from pipelines.synthetic import Estate

REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
S114_CSV = "sources/registers/section114_notices.csv"
NN_JSON = "sources/oflog_asc/NN.json"
RS_2015 = "sources/bbc_council_reserves/RS_2015-16_data_by_LA_-_Revision.xlsx"
S114 = ["raw/section114_notices", "validated/section114_notices"]
RS = ["raw/revenue_outturn", "validated/revenue_outturn"]
REGISTER = ["raw/council_register", "validated/council_register"]


# --------------------------------------------------------------------------------------------
# Structural errors: the raw asset fails, naming the file and what is wrong
# --------------------------------------------------------------------------------------------


def _drop_register_column(p) -> None:
    def change(rows):
        at = rows[0].index("official-name")
        for row in rows:
            del row[at]

    p.rewrite_csv(REGISTER_CSV, change)


def _register_in_cp1252(p) -> None:
    rows = p.read_csv(REGISTER_CSV)
    rows[4][rows[0].index("nice-name")] = "Caf\u00e9 Town"  # data row 4 is on line 5
    p.write_csv(REGISTER_CSV, rows, encoding="cp1252")


def _empty(relative: str) -> Callable:
    return lambda p: p.path(relative).write_bytes(b"")


def _rename_sheet(p) -> None:
    """The publisher renamed the sheet: rewrite the workbook with another sheet name."""
    path = p.path(RS_2015)
    with zipfile.ZipFile(path) as archive:
        parts = {item: archive.read(item) for item in archive.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b'name="RS LA Data 2015-16"', b'name="RS LA Data 2015-16 (revised)"'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for item, content in parts.items():
            archive.writestr(item, content)


def _ragged_notices(p) -> None:
    with p.path(S114_CSV).open("a", encoding="utf-8") as handle:
        handle.write("E06900001,A,2020-01-01,day,,,src,q,one too many\n")


STRUCTURAL = {
    "missing column": (
        _drop_register_column,
        "raw/council_register",
        REGISTER_CSV,
        "missing required column(s): official_name (^official-name$); headers found: [",
    ),
    "non-UTF-8 CSV": (
        _register_in_cp1252,
        "raw/council_register",
        REGISTER_CSV,
        "not UTF-8 text: byte 0xe9 on line 5",
    ),
    "empty CSV": (_empty(S114_CSV), "raw/section114_notices", S114_CSV, "file is empty"),
    "empty workbook": (_empty(RS_2015), "raw/revenue_outturn", RS_2015, "file is empty"),
    "wrong sheet": (
        _rename_sheet,
        "raw/revenue_outturn",
        RS_2015,
        "sheet 'RS LA Data 2015-16' not found; the workbook has "
        "['Front Page', 'LA drop-down', 'RS LA Data 2015-16 (revised)']",
    ),
    "not a workbook": (
        lambda p: shutil.copy(p.path(S114_CSV), p.path(RS_2015)),
        "raw/revenue_outturn",
        RS_2015,
        "not a readable .xlsx workbook",
    ),
    "ragged CSV": (
        _ragged_notices,
        "raw/section114_notices",
        S114_CSV,
        "not a readable CSV table",
    ),
    "broken JSON": (
        lambda p: p.path(NN_JSON).write_text('{"E06900001": [', encoding="utf-8"),
        "raw/nearest_neighbours",
        NN_JSON,
        "not valid JSON",
    ),
    "missing file": (
        lambda p: p.path(S114_CSV).unlink(),
        "raw/section114_notices",
        S114_CSV,
        "file not found",
    ),
}


@pytest.mark.parametrize("case", list(STRUCTURAL), ids=list(STRUCTURAL))
def test_structural_error_fails_the_asset_naming_file_and_reason(case, fictional):
    break_file, asset, relative, reason = STRUCTURAL[case]
    source_id = asset.split("/")[1]
    loads_before = fictional.snapshot("raw.loads")
    current_before = fictional.query(
        "SELECT source_path, load_id FROM raw.current_loads ORDER BY 1"
    )
    rows_before = fictional.snapshot(f"raw.{source_id}")
    validated_before = fictional.snapshot(f"validated.{source_id}")
    break_file(fictional)

    result = fictional.materialize([asset, f"validated/{source_id}"], raise_on_error=False)

    assert not result.success
    step = asset.replace("/", "__")
    assert set(fictional.failures()) == {step}
    message = fictional.failure(step)
    assert str(fictional.path(relative).resolve()) in message
    assert reason in message
    # Nothing half-loaded, nothing downstream rebuilt from a broken file.
    assert f"validated/{source_id}" not in fictional.materialized()
    assert fictional.snapshot("raw.loads") == loads_before
    assert (
        fictional.query("SELECT source_path, load_id FROM raw.current_loads ORDER BY 1")
        == current_before
    )
    assert fictional.snapshot(f"raw.{source_id}") == rows_before
    assert fictional.snapshot(f"validated.{source_id}") == validated_before


def test_structural_error_message_itself_names_file_and_reason(fictional):
    _drop_register_column(fictional)
    result = fictional.materialize(["raw/council_register"], raise_on_error=False)
    assert not result.success
    message = fictional.failures()["raw__council_register"].error.message
    assert str(fictional.path(REGISTER_CSV).resolve()) in message
    assert "missing required column(s): official_name" in message


# --------------------------------------------------------------------------------------------
# Row errors: quarantined with file, row, column, check and value; the rest go on
# --------------------------------------------------------------------------------------------


def _quarantined(pipeline, source_id: str) -> set[tuple]:
    return {
        (
            r["source_path"],
            r["source_row_number"],
            r["column_name"],
            r["check_name"],
            r["failure_value"],
            r["disposition"],
        )
        for r in pipeline.quarantine(source_id)
    }


def _assert_counts_balance(pipeline, asset: str, raw: int, valid: int, quarantined: int) -> None:
    source_id = asset.split("/")[1]
    metadata = pipeline.metadata(asset)
    assert metadata["raw_rows"] == raw
    assert metadata["dagster/row_count"] == valid
    assert metadata["quarantined_rows"] == quarantined
    assert pipeline.scalar(f"SELECT count(*) FROM validated.{source_id}") == valid
    assert raw == valid + quarantined
    accounted = pipeline.check(asset, "raw_rows_accounted_for")
    assert accounted.passed
    assert accounted.severity == dg.AssetCheckSeverity.ERROR


def _assert_rejected(pipeline, asset: str, rejected: int) -> None:
    check = pipeline.check(asset, "rows_pass_schema")
    assert check.passed is (rejected == 0)
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["rejected_rows"].value == rejected
    assert pipeline.metadata(asset)["rejected_rows"] == rejected


def test_wrong_type_in_a_csv(fictional, s114_rows):
    rows = copy.deepcopy(s114_rows)
    rows[2][2] = "31/02/2019"  # the third notice, on line 4
    fictional.write_s114(rows)
    result = fictional.materialize(S114)
    assert result.success  # a bad row does not fail the run
    assert _quarantined(fictional, "section114_notices") == {
        (S114_CSV, 4, "notice_date", "parse as Date", "31/02/2019", "rejected")
    }
    assert fictional.query(
        "SELECT source_row_number FROM validated.section114_notices ORDER BY 1"
    ) == [(2,), (3,), (5,), (6,)]
    _assert_counts_balance(fictional, "validated/section114_notices", 5, 4, 1)
    _assert_rejected(fictional, "validated/section114_notices", 1)
    assert (
        "31/02/2019"
        in fictional.check("validated/section114_notices", "rows_pass_schema")
        .metadata["sample"]
        .value
    )


def test_wrong_type_and_missing_markers_in_a_workbook(fictional, estate: Estate, rs_values):
    values = copy.deepcopy(rs_values)
    councils = estate.councils
    values[councils[3].gss_code]["2016-17"]["earmarked_end"] = "twelve"
    values[councils[6].gss_code]["2016-17"]["unallocated_start"] = "#DIV/0!"
    values[councils[7].gss_code]["2016-17"]["schools_start"] = "-"  # "no figure", not an error
    fictional.write_rs("2016-17", estate, values)
    fictional.materialize(RS)
    path = "sources/bbc_council_reserves/RS_2016-17_data_by_LA.xlsx"
    quarantine = fictional.quarantine("revenue_outturn")
    assert {(r["source_path"], r["source_row_number"], r["column_name"]) for r in quarantine} == {
        (path, 11, "earmarked_reserves_end"),
        (path, 14, "unallocated_reserves_start"),
    }
    reasons = {r["failure_value"]: (r["check_name"], r["reason"]) for r in quarantine}
    assert reasons == {
        "twelve": ("parse as Float64", "not a valid Float64"),
        "#DIV/0!": ("parse as Float64", "spreadsheet formula error in the cell"),
    }
    row = fictional.dicts(
        "SELECT schools_reserves_start, schools_reserves_end, source_row_number "
        "FROM validated.revenue_outturn WHERE council_code = ? AND period = '2016-17'",
        [councils[7].gss_code],
    )
    assert row == [
        {"schools_reserves_start": None, "schools_reserves_end": 217.0, "source_row_number": 15}
    ]
    n = len(councils)
    _assert_counts_balance(fictional, "validated/revenue_outturn", 3 * n, 3 * n - 2, 2)
    _assert_rejected(fictional, "validated/revenue_outturn", 2)


def test_unknown_council_code(fictional, s114_rows):
    rows = copy.deepcopy(s114_rows)
    rows[1][0] = "E06999999"  # line 3: a council prefix the register does not hold
    rows[3][0] = "W06000015"  # line 5: a Welsh council, out of scope rather than wrong
    fictional.write_s114(rows)
    fictional.materialize(S114)
    check = "council code in register"
    assert _quarantined(fictional, "section114_notices") == {
        (S114_CSV, 3, "council_code", check, "E06999999", "rejected"),
        (S114_CSV, 5, "council_code", check, "W06000015", "out_of_scope"),
    }
    _assert_counts_balance(fictional, "validated/section114_notices", 5, 3, 2)
    _assert_rejected(fictional, "validated/section114_notices", 1)
    assert fictional.metadata("validated/section114_notices")["out_of_scope_rows"] == 1


def test_unknown_council_code_in_a_workbook(fictional, estate: Estate, rs_values):
    councils = list(estate.councils)
    councils[9] = replace(councils[9], gss_code="E07999999", ecode="E9QQQQQ")
    values = dict(rs_values)
    values["E07999999"] = rs_values[estate.councils[9].gss_code]
    fictional.write_rs("2015-16", Estate(councils=councils), values)
    fictional.materialize(RS)
    assert _quarantined(fictional, "revenue_outturn") == {
        (RS_2015, 17, "council_code", "council code in register", "E07999999", "rejected")
    }
    _assert_rejected(fictional, "validated/revenue_outturn", 1)


def test_duplicate_key_and_exact_duplicate(fictional, s114_rows):
    rows = copy.deepcopy(s114_rows)
    clash = list(rows[0])
    clash[6] = "https://example.org/another-source"  # same council and date, different row
    rows.append(clash)  # line 7
    rows.append(list(rows[1]))  # line 8: line 3 again, word for word
    fictional.write_s114(rows)
    fictional.materialize(S114)
    quarantine = {
        r["source_row_number"]: (
            r["column_name"],
            r["disposition"],
            r["reason"],
            r["failure_value"],
        )
        for r in fictional.quarantine("section114_notices")
    }
    assert set(quarantine) == {2, 7, 8}
    assert quarantine[2][:3] == ("(row)", "rejected", "multiple_fields_uniqueness")
    assert quarantine[7][:3] == ("(row)", "rejected", "multiple_fields_uniqueness")
    assert quarantine[8] == (
        "(row)",
        "duplicate",
        "repeats row 3 of the same file word for word",
        "3",
    )
    assert fictional.query(
        "SELECT source_row_number FROM validated.section114_notices ORDER BY 1"
    ) == [(3,), (4,), (5,), (6,)]
    _assert_counts_balance(fictional, "validated/section114_notices", 7, 4, 3)
    _assert_rejected(fictional, "validated/section114_notices", 2)


def test_duplicate_council_in_the_register(fictional, estate: Estate):
    def change(rows):
        twin = list(rows[1])
        twin[rows[0].index("nice-name")] = "A Different Name"
        rows.append(twin)

    fictional.rewrite_csv(REGISTER_CSV, change)
    fictional.materialize(REGISTER)
    n = len(estate.councils)
    lines = {r["source_row_number"] for r in fictional.quarantine("council_register")}
    assert lines == {2, n + 2}
    assert {r["disposition"] for r in fictional.quarantine("council_register")} == {"rejected"}
    assert (
        fictional.scalar(
            "SELECT count(*) FROM validated.council_register WHERE gss_code = ?",
            [estate.councils[0].gss_code],
        )
        == 0
    )
    _assert_counts_balance(fictional, "validated/council_register", n + 1, n - 1, 2)
    _assert_rejected(fictional, "validated/council_register", 2)


def test_negative_reserves_only_where_impossible(fictional, estate: Estate, rs_values):
    values = copy.deepcopy(rs_values)
    c = estate.councils
    values[c[2].gss_code]["2017-18"]["unallocated_end"] = -5  # row 10: impossible
    values[c[4].gss_code]["2017-18"]["earmarked_start"] = -1  # row 12: impossible
    values[c[5].gss_code]["2017-18"]["schools_end"] = -300  # row 13: a deficit, by design
    values[c[5].gss_code]["2017-18"]["public_health_start"] = -20
    path = fictional.write_rs("2017-18", estate, values)
    fictional.materialize(RS)
    relative = str(path.relative_to(fictional.data_dir))
    assert {
        (r["source_path"], r["source_row_number"], r["column_name"], r["failure_value"])
        for r in fictional.quarantine("revenue_outturn")
    } == {
        (relative, 10, "unallocated_reserves_end", "-5.0"),
        (relative, 12, "earmarked_reserves_start", "-1.0"),
    }
    assert {r["reason"] for r in fictional.quarantine("revenue_outturn")} == {
        "greater_than_or_equal_to(0)"
    }
    assert {r["check_name"] for r in fictional.quarantine("revenue_outturn")} == {"schema"}
    deficit = fictional.dicts(
        "SELECT schools_reserves_end, public_health_reserves_start, source_row_number "
        "FROM validated.revenue_outturn WHERE council_code = ? AND period = '2017-18'",
        [c[5].gss_code],
    )
    assert deficit == [
        {
            "schools_reserves_end": -300.0,
            "public_health_reserves_start": -20.0,
            "source_row_number": 13,
        }
    ]
    n = len(c)
    _assert_counts_balance(fictional, "validated/revenue_outturn", 3 * n, 3 * n - 2, 2)
    _assert_rejected(fictional, "validated/revenue_outturn", 2)


def test_a_figure_in_pounds_not_thousands_is_rejected(fictional, estate: Estate, rs_values):
    values = copy.deepcopy(rs_values)
    values[estate.councils[0].gss_code]["2015-16"]["nre"] = 770_458_609.0  # £, not £000
    fictional.write_rs("2015-16", estate, values)
    fictional.materialize(RS)
    [row] = fictional.quarantine("revenue_outturn")
    assert (row["source_row_number"], row["column_name"], row["reason"]) == (
        8,
        "net_revenue_expenditure",
        "in_range(-5000000, 5000000)",
    )


def test_header_only_file_is_zero_rows_not_an_error(fictional):
    fictional.write_s114([])
    result = fictional.materialize(S114)
    assert result.success
    assert fictional.scalar("SELECT count(*) FROM validated.section114_notices") == 0
    assert fictional.metadata("raw/section114_notices")["dagster/row_count"] == 0
    assert fictional.check("validated/section114_notices", "raw_rows_accounted_for").passed


def test_trailing_blank_line_is_not_a_row(fictional, s114_rows):
    path = fictional.write_s114(s114_rows)
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    fictional.materialize(S114)
    assert fictional.quarantine("section114_notices") == []
    assert fictional.check("validated/section114_notices", "rows_pass_schema").passed
