"""The real embedded data (repo data/, read only), materialised once through Dagster.

Expected figures come from SOURCES.md and the published files themselves, read here with the
csv module, json, or the XML of the workbooks, never from the pipeline's own output.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

import pytest

from pipelines.catalogue import load_catalogue

REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
GSS_LOOKUP_CSV = "sources/mysociety_la_codes/lookup_gss_to_registry.csv"
NAME_LOOKUP_CSV = "sources/mysociety_la_codes/lookup_name_to_registry.csv"
S114_CSV = "sources/registers/section114_notices.csv"
ASC_CSV = "sources/oflog_asc/ASC_data.csv"
NN_JSON = "sources/oflog_asc/NN.json"
CT_XLSX = "sources/ct_receipts/CT_Receipts_Live_Table_Q4_2022-23.xlsx"
RS_2015 = "sources/bbc_council_reserves/RS_2015-16_data_by_LA_-_Revision.xlsx"
RS_2017 = "sources/bbc_council_reserves/RS_2017-18_data_by_LA_PRENOV.xlsx"
FINANCE_JSON = "sources/la_finance_metrics/la-metrics-data.json"
COUNCIL_GSS = re.compile(r"^E(06|07|08|09|10)\d{6}$")
REGISTER_TYPES = {"CTY", "NMD", "UA", "MD", "LBO", "CC"}
PRINCIPAL_CLASSES = {"L", "MD", "UA", "SC", "SD"}


@pytest.fixture(scope="module")
def register_csv(real, csv_records):
    return csv_records(real.path(REGISTER_CSV))


@pytest.fixture(scope="module")
def rs_sheets(real, xlsx_cells):
    """Each RS .xlsx file's cells, read from the workbook XML (the 2010-11 to 2014-15 .xls
    editions are checked in tests/test_finance_sources.py)."""
    return {
        file.path: (file, xlsx_cells(real.path(file.path), file.sheet))
        for file in load_catalogue()["revenue_outturn"].files
        if file.path.endswith(".xlsx")
    }


def _rs_table(cells) -> list[int]:
    """Spreadsheet rows of the RS table: from row 8 to the first row without an E-code."""
    rows, row = [], 8
    while (row, 1) in cells:
        rows.append(row)
        row += 1
    return rows


def _header_column(cells, header_row: int, text: str) -> int:
    [column] = [
        c for (r, c), v in cells.items() if r == header_row and str(v).strip().lower() == text
    ]
    return column


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def test_real_data_materialises(real):
    assert real.result is not None and real.result.success
    expected = {f"{layer}/{s}" for s in load_catalogue() for layer in ("raw", "validated")}
    derived = {"validated/council_code_map"}
    assert real.materialized() == expected | derived


def test_asset_checks_on_real_data(real):
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in real.result.get_asset_check_evaluations()
    }
    # Two per validated source, and edition_not_shrunk per raw source.
    assert len(checks) == 3 * len(load_catalogue())
    failing = sorted(key for key, e in checks.items() if not e.passed)
    # Two Data Explorer entries list a single neighbour; four rows of the 2010-11 to 2014-15
    # Revenue Outturn state a negative earmarked or unallocated balance
    # (tests/test_finance_sources.py). The service outcomes hold real mess, counted in
    # tests/test_services_real_data.py: garbled grades, two 2009 counties, a joint waste return.
    services = [
        "ofsted_ilacs",
        "road_condition_a_roads",
        "road_condition_b_c_roads",
        "waste_indicators",
    ]
    assert failing == sorted(
        [
            ("validated/nearest_neighbours", "rows_pass_schema"),
            ("validated/revenue_outturn", "rows_pass_schema"),
            # The debt sources reject the councils abolished in 2009 (not in the register) and
            # the capital outturn's one-year spikes (tests/test_debt_sources.py).
            ("validated/borrowing_live_table", "rows_pass_schema"),
            ("validated/investments_live_table", "rows_pass_schema"),
            ("validated/prudential_indicators", "rows_pass_schema"),
        ]
        + [(f"validated/{s}", "rows_pass_schema") for s in services]
    )
    assert (
        checks[("validated/nearest_neighbours", "rows_pass_schema")].metadata["rejected_rows"].value
        == 2
    )


def test_every_raw_row_accounted_for_per_load(real):
    for source_id in load_catalogue():
        loads = real.query(
            f"""
            WITH raw AS (
                SELECT r.load_id, count(*) AS n FROM raw.{source_id} r
                JOIN raw.current_loads c ON c.load_id = r.load_id GROUP BY 1),
            ok AS (SELECT load_id, count(*) AS n FROM validated.{source_id} GROUP BY 1),
            bad AS (
                SELECT load_id,
                    count(DISTINCT (source_path, source_row_number, source_column)) AS n
                FROM validated.quarantine WHERE source_id = ? GROUP BY 1)
            SELECT raw.n, coalesce(ok.n, 0) + coalesce(bad.n, 0) FROM raw
            LEFT JOIN ok USING (load_id) LEFT JOIN bad USING (load_id)
            """,
            [source_id],
        )
        assert all(raw == accounted for raw, accounted in loads), (source_id, loads)
        assert real.check(f"validated/{source_id}", "raw_rows_accounted_for").passed


# --------------------------------------------------------------------------------------------
# Raw rows, counted from the files themselves
# --------------------------------------------------------------------------------------------


def test_raw_row_counts_match_the_files(real, csv_records, rs_sheets, xlsx_cells):
    expected: dict[str, int] = {}
    for spec in load_catalogue().values():
        for file in spec.files:
            if spec.layout == "csv_table" and spec.unpivot is None:
                expected[file.path] = len(csv_records(real.path(file.path)))
    nn = json.loads(real.path(NN_JSON).read_text(encoding="utf-8"))
    expected[NN_JSON] = len(nn)
    for path, (_, cells) in rs_sheets.items():
        expected[path] = len(_rs_table(cells))
    ct = xlsx_cells(real.path(CT_XLSX), "Table_5")
    quarter = re.compile(r"^(April|July|October|January) .* \d{4} \(Q[1-4]\)$")
    quarters = [c for (r, c), v in ct.items() if r == 6 and quarter.match(str(v).strip())]
    last_row = max(r for r, _ in ct)
    expected[CT_XLSX] = (last_row - 6) * len(quarters)

    finance = json.loads(real.path(FINANCE_JSON).read_text(encoding="utf-8"))
    expected[FINANCE_JSON] = len(finance["data"]["values"]) - 1  # less the header row
    # The debt sources' counts are checked in tests/test_debt_sources.py (two sources share
    # each of their workbooks, so a path alone does not name one load).
    loaded = dict(
        real.query(
            "SELECT source_path, row_count FROM raw.loads WHERE source_id NOT IN "
            "('borrowing_live_table', 'investments_live_table', 'prudential_indicators', "
            "'capital_outturn_cfr', 'capital_outturn_borrowing')"
        )
    )
    # The 2010-11 to 2014-15 .xls workbooks are counted in tests/test_finance_sources.py, the .ods
    # workbooks (one of them read as two sources) in tests/test_services_real_data.py.
    loaded = {path: rows for path, rows in loaded.items() if not path.endswith((".xls", ".ods"))}
    assert loaded == expected
    # As SOURCES.md describes them.
    assert expected[REGISTER_CSV] == 470
    assert expected[ASC_CSV] == 6376
    assert expected[NN_JSON] == 348
    assert expected[S114_CSV] == 18
    assert len(quarters) == 52
    assert [expected[p] for p in rs_sheets] == [444, 446, 445]
    for path, rows in expected.items():
        source_id = real.scalar("SELECT source_id FROM raw.loads WHERE source_path = ?", [path])
        assert (
            real.scalar(f"SELECT count(*) FROM raw.{source_id} WHERE source_path = ?", [path])
            == rows
        )


def test_rs_table_stops_where_the_councils_end(rs_sheets):
    """stop_at_blank: everything below the first row without an E-code is totals and notes."""
    for path, (_, cells) in rs_sheets.items():
        table = _rs_table(cells)
        ons = _header_column(cells, 7, "ons code")
        below = [cells.get((r, ons)) for r in range(table[-1] + 1, max(r for r, _ in cells) + 1)]
        assert not any(COUNCIL_GSS.match(str(v)) for v in below if v is not None), path


def test_raw_rows_are_the_published_text(real, register_csv):
    by_line = {int(r["__line__"]): r for r in register_csv}
    rows = real.query(
        "SELECT source_row_number, register_code, gss_code, population_2020, former_gss_codes, "
        "extra FROM raw.council_register"
    )
    assert len(rows) == len(register_csv)
    for line, register_code, gss, population, former, extra in rows:
        record = by_line[line]
        assert register_code == record["local-authority-code"]
        assert gss == (record["gss-code"] or None)
        assert population == (record["pop-2020"] or None)  # "620610.0": text, as published
        assert former == (record["former-gss-codes"] or None)
        assert json.loads(extra)["snac"] == (record["snac"] or None)


def test_imputed_flag_in_the_blank_headed_column_is_kept(real, rs_sheets):
    _, cells = rs_sheets[RS_2017]
    flagged = {r: v for (r, c), v in cells.items() if c == 4 and r in _rs_table(cells)}
    assert flagged, "the 2017-18 workbook flags imputed figures in column D"
    for row, flag in flagged.items():
        [(extra,)] = real.query(
            "SELECT extra FROM raw.revenue_outturn WHERE source_path = ? AND source_row_number = ?",
            [RS_2017, row],
        )
        assert flag in json.loads(extra).values()
    # North Yorkshire's 2017-18 figures were imputed (row 22).
    assert flagged.get(22) == "I"


# --------------------------------------------------------------------------------------------
# The register
# --------------------------------------------------------------------------------------------


def test_register_holds_the_current_english_councils(real, register_csv):
    counts = dict(
        real.query(
            "SELECT left(gss_code, 3), count(*) FROM validated.council_register "
            "WHERE is_current GROUP BY 1"
        )
    )
    assert counts == {"E06": 63, "E07": 164, "E08": 36, "E09": 33, "E10": 21}
    assert sum(counts.values()) == 317
    # The same figures, counted in the published file.
    from_file = Counter(
        r["gss-code"][:3]
        for r in register_csv
        if r["nation"] == "England"
        and COUNCIL_GSS.match(r["gss-code"])
        and r["local-authority-type"] in REGISTER_TYPES
        and not r["end-date"]
    )
    assert counts == dict(from_file)
    city = real.dicts(
        "SELECT council_name, council_type, region, is_current FROM validated.council_register "
        "WHERE gss_code = 'E09000001'"
    )
    assert city == [
        {
            "council_name": "City of London",
            "council_type": "london borough",
            "region": "London",
            "is_current": True,
        }
    ]


def test_register_scope(real, register_csv):
    in_scope = [
        r
        for r in register_csv
        if r["nation"] == "England"
        and COUNCIL_GSS.match(r["gss-code"])
        and r["local-authority-type"] in REGISTER_TYPES
    ]
    validated = real.scalar("SELECT count(*) FROM validated.council_register")
    assert validated == len(in_scope) == 365
    out = real.quarantine("council_register")
    assert len(out) == len(register_csv) - len(in_scope) == 105
    assert {r["disposition"] for r in out} == {"out_of_scope"}
    assert {r["source_row_number"] for r in out} == {
        int(r["__line__"]) for r in register_csv if r not in in_scope
    }
    metadata = real.metadata("validated/council_register")
    assert (metadata["dagster/row_count"], metadata["quarantined_rows"]) == (365, 105)
    assert metadata["rejected_rows"] == 0
    assert real.metadata("raw/council_register")["dagster/row_count"] == 470


def test_abolished_councils_stay_valid(real, register_csv):
    record = next(r for r in register_csv if r["gss-code"] == "E10000021")
    assert (record["end-date"], record["replaced-by"]) == ("2021-04-01", "NNT,WNT")
    [row] = real.dicts(
        "SELECT council_name, end_date, replaced_by, is_current FROM validated.council_register "
        "WHERE gss_code = 'E10000021'"
    )
    assert row == {
        "council_name": record["nice-name"],
        "end_date": date(2021, 4, 1),
        "replaced_by": "NNT,WNT",
        "is_current": False,
    }


def test_northamptonshire_section114_notices_validate(real, csv_records):
    lines = [
        (int(r["__line__"]), date.fromisoformat(r["notice_date"]))
        for r in csv_records(real.path(S114_CSV))
        if r["gss_code"] == "E10000021"
    ]
    assert len(lines) == 2
    rows = real.query(
        "SELECT source_row_number, notice_date, council_code FROM validated.section114_notices "
        "WHERE source_council_code = 'E10000021' ORDER BY 1"
    )
    assert rows == [(line, when, "E10000021") for line, when in lines]
    assert real.scalar("SELECT count(*) FROM validated.section114_notices") == 18
    assert real.quarantine("section114_notices") == []


def test_former_gss_code_maps_to_its_successor(real, register_csv, csv_records):
    [successor] = [r for r in register_csv if "E07000097" in r["former-gss-codes"].split(",")]
    assert successor["gss-code"] == "E07000242"  # East Hertfordshire
    lookup = {
        r["gss-code"]: r["local-authority-code"] for r in csv_records(real.path(GSS_LOOKUP_CSV))
    }
    assert lookup["E07000097"] == successor["local-authority-code"]
    assert real.query(
        "SELECT council_code FROM validated.council_code_map WHERE code = 'E07000097'"
    ) == [("E07000242",)]


def test_name_lookup_repeats_are_duplicates_not_errors(real, csv_records):
    first_line: dict[tuple[str, str], int] = {}
    repeats = {}
    for record in csv_records(real.path(NAME_LOOKUP_CSV)):
        key = (record["la-name"], record["local-authority-code"])
        line = int(record["__line__"])
        if key in first_line:
            repeats[line] = str(first_line[key])
        else:
            first_line[key] = line
    duplicates = real.quarantine("council_name_lookup", "duplicate")
    assert {r["source_row_number"]: r["failure_value"] for r in duplicates} == repeats
    assert len(repeats) == 2


# --------------------------------------------------------------------------------------------
# Finance returns
# --------------------------------------------------------------------------------------------


def test_birmingham_2017_18_as_the_workbook_states(real, rs_sheets):
    _, cells = rs_sheets[RS_2017]
    [row] = [r for r in _rs_table(cells) if cells.get((r, 2)) == "E08000025"]
    assert row == 9
    header = {str(v).strip().lower(): c for (r, c), v in cells.items() if r == 7}
    start = cells[(row, header["estimated unallocated financial reserves level at 1 april"])]
    end = cells[(row, header["estimated unallocated financial reserves level at 31 march"])]
    nre = cells[(row, header["net revenue expenditure"])]
    assert (start, end, round(nre, 6)) == (100838, 170469, 770458.609)
    [validated] = real.dicts(
        "SELECT * FROM validated.revenue_outturn WHERE council_code = 'E08000025' "
        "AND period = '2017-18'"
    )
    assert validated["unallocated_reserves_start"] == 100838
    assert validated["unallocated_reserves_end"] == 170469
    assert validated["net_revenue_expenditure"] == 770458.609
    assert validated["source_row_number"] == 9
    assert validated["source_path"] == RS_2017
    assert validated["period_end"] == date(2018, 3, 31)


def test_revenue_outturn_scope_by_class(real, rs_sheets):
    for path, (_, cells) in rs_sheets.items():
        klass = _header_column(cells, 7, "class")
        classes = Counter(cells.get((r, klass)) for r in _rs_table(cells))
        principal = sum(n for c, n in classes.items() if c in PRINCIPAL_CLASSES)
        assert (
            real.scalar(
                "SELECT count(*) FROM validated.revenue_outturn WHERE source_path = ?", [path]
            )
            == principal
        )
        out = real.scalar(
            "SELECT count(*) FROM validated.quarantine WHERE source_id = 'revenue_outturn' "
            "AND source_path = ? AND disposition = 'out_of_scope'",
            [path],
        )
        assert out == sum(classes.values()) - principal
        rejected = [q for q in real.quarantine("revenue_outturn", "rejected")]
        assert [q for q in rejected if q["source_path"] == path] == []


def test_ecode_fallback_north_yorkshire_2015_16(real, rs_sheets, register_csv):
    _, cells = rs_sheets[RS_2015]
    [row] = [r for r in _rs_table(cells) if cells.get((r, 2)) == "E10000022"]
    ecode = cells[(row, 1)]
    # The register does not know E10000022, as a code or a former code...
    assert not any(
        "E10000022" in (r["gss-code"], *r["former-gss-codes"].split(",")) for r in register_csv
    )
    assert real.query("SELECT * FROM validated.council_code_map WHERE code = 'E10000022'") == []
    # ... but it knows the row's E-code, and that council is what the row resolves to.
    [council] = [r for r in register_csv if r["ecode"] == ecode]
    assert (council["gss-code"], council["nice-name"]) == ("E10000023", "North Yorkshire")
    assert real.dicts(
        "SELECT council_code, source_council_code, code_resolved_by FROM validated.revenue_outturn"
        " WHERE source_path = ? AND source_row_number = ?",
        [RS_2015, row],
    ) == [
        {
            "council_code": council["gss-code"],
            "source_council_code": "E10000022",
            "code_resolved_by": "ecode",
        }
    ]


def test_council_tax_receipts_scope(real, xlsx_cells):
    cells = xlsx_cells(real.path(CT_XLSX), "Table_5")
    last_row = max(r for r, _ in cells)
    classes = Counter(cells.get((r, 4)) for r in range(7, last_row + 1))
    principal = sum(n for c, n in classes.items() if c in PRINCIPAL_CLASSES)
    assert real.scalar("SELECT count(*) FROM validated.council_tax_receipts") == principal * 52
    assert len(real.quarantine("council_tax_receipts", "out_of_scope")) == (
        (last_row - 6 - principal) * 52
    )
    assert real.quarantine("council_tax_receipts", "rejected") == []
    assert real.query("SELECT published FROM raw.loads WHERE source_path = ?", [CT_XLSX]) == [
        (date(2023, 6, 21),)
    ]


def test_data_explorer_and_neighbours(real, csv_records):
    assert real.scalar("SELECT count(*) FROM validated.data_explorer_metrics") == len(
        csv_records(real.path(ASC_CSV))
    )
    neighbours = json.loads(real.path(NN_JSON).read_text(encoding="utf-8"))
    short = {
        position
        for position, (code, codes) in enumerate(neighbours.items(), start=1)
        if COUNCIL_GSS.match(code) and len(codes) < 2
    }
    rejected = real.quarantine("nearest_neighbours", "rejected")
    assert {r["source_row_number"] for r in rejected} == short
    assert len(short) == 2
    assert {r["column_name"] for r in rejected} == {"n_neighbours"}
    not_councils = {
        position for position, code in enumerate(neighbours, start=1) if not COUNCIL_GSS.match(code)
    }
    out = real.quarantine("nearest_neighbours", "out_of_scope")
    assert {r["source_row_number"] for r in out} == not_councils
    assert real.scalar("SELECT count(*) FROM validated.nearest_neighbours") == (
        len(neighbours) - len(short) - len(not_councils)
    )
