"""The validated layer: stage_rows on tiny frames, then the validated assets through Dagster on a
fictional estate whose answers are known by construction."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandera.polars as pa
import polars as pl
import pytest

import assets.validated as validated_module
from assets.raw import raw_assets
from checks.schemas.common import COUNCIL_GSS
from checks.schemas.known_cases import SECTION114_NOTICES
from checks.validation import (
    DUPLICATE,
    OUT_OF_SCOPE,
    QUARANTINE_SCHEMA,
    REJECTED,
    CouncilCodeRule,
    Scope,
    StagingSpec,
    StructuralValidationError,
    count_invariant,
    stage_rows,
)
from pipelines.catalogue import load_catalogue
from pipelines.synthetic import RS_FILES, Estate

SOURCES = list(load_catalogue())
REGISTER_CHAIN = [
    "raw/council_register",
    "validated/council_register",
    "raw/council_gss_lookup",
    "validated/council_gss_lookup",
    "validated/council_code_map",
]
S114 = ["raw/section114_notices", "validated/section114_notices"]
RS = ["raw/revenue_outturn", "validated/revenue_outturn"]
REGISTER_CSV = "sources/mysociety_la_codes/uk_local_authorities_current.csv"
GSS_LOOKUP_CSV = "sources/mysociety_la_codes/lookup_gss_to_registry.csv"


# --------------------------------------------------------------------------------------------
# stage_rows on tiny frames
# --------------------------------------------------------------------------------------------


class Tiny(pa.DataFrameModel):
    council_code: str = pa.Field(str_matches=COUNCIL_GSS)
    amount: float = pa.Field(nullable=True, ge=0)
    kind: str = pa.Field(isin=["a", "b"])

    class Config:
        unique = ["council_code", "kind"]  # noqa: RUF012 - pandera reads a plain attribute


TINY = StagingSpec(
    model=Tiny,
    parse={"amount": pl.Float64},
    scope=Scope(keep=pl.col("kind") != "total", reason="a total row"),
    council_code=CouncilCodeRule(fallback_column="ecode"),
    output_columns=[
        *["council_code", "source_council_code", "code_resolved_by", "amount", "kind"],
        *["load_id", "source_path", "source_row_number", "source_column"],
    ],
)
GSS_MAP = pl.DataFrame(
    {
        "code": ["E06000001", "E06000002", "E07000097", "E07000242"],
        "council_code": ["E06000001", "E06000002", "E07000242", "E07000242"],
    }
)
ECODE_MAP = pl.DataFrame({"code": ["E0601", "E0602"], "council_code": ["E06000001", "E06000002"]})
MAPS = {"gss": GSS_MAP, "ecode": ECODE_MAP}


def raw_frame(rows: list[dict], load_id: str = "L1", first_row: int = 2) -> pl.DataFrame:
    """Raw rows as the raw layer returns them: text, with lineage and load context."""
    lineage = {
        "load_id": load_id,
        "source_path": "sources/tiny.csv",
        "file_sha256": "0" * 64,
        "loaded_at": None,
        "source_column": None,
        "extra": None,
        "load_period": None,
        "load_theme": None,
        "load_published": None,
    }
    content = {"council_code": None, "ecode": None, "amount": None, "kind": "a"}
    return pl.DataFrame(
        [
            {**lineage, "source_row_number": first_row + i, **content, **row}
            for i, row in enumerate(rows)
        ],
        schema_overrides={"loaded_at": pl.Datetime, "source_column": pl.String}
        | {c: pl.String for c in ["extra", "load_period", "load_theme", "council_code", "ecode"]}
        | {"amount": pl.String, "load_published": pl.Date},
    )


def only(frame: pl.DataFrame) -> dict:
    assert frame.height == 1, frame
    return frame.row(0, named=True)


def test_clean_rows_all_pass():
    raw = raw_frame(
        [
            {"council_code": "E06000001", "amount": "10"},
            {"council_code": "E06000002", "amount": "20.5"},
            {"council_code": "E06000002", "amount": "0", "kind": "b"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    assert staged.valid.get_column("amount").to_list() == [10.0, 20.5, 0.0]
    assert staged.quarantine.is_empty()
    assert staged.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert staged.quarantined_rows == 0
    invariant = count_invariant(raw, staged)
    assert invariant.to_dicts() == [
        {
            "load_id": "L1",
            "raw_rows": 3,
            "validated_rows": 3,
            "quarantined_rows": 0,
            "balanced": True,
        }
    ]


def test_unparseable_value_is_quarantined_with_row_column_check_and_value():
    raw = raw_frame(
        [
            {"council_code": "E06000001", "amount": "10"},
            {"council_code": "E06000002", "amount": "ten"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    assert staged.valid.get_column("council_code").to_list() == ["E06000001"]
    assert only(staged.quarantine) == {
        "source_id": "tiny",
        "load_id": "L1",
        "source_path": "sources/tiny.csv",
        "source_row_number": 3,
        "source_column": None,
        "column_name": "amount",
        "check_name": "parse as Float64",
        "failure_value": "ten",
        "disposition": REJECTED,
        "reason": "not a valid Float64",
    }
    assert count_invariant(raw, staged).get_column("balanced").to_list() == [True]


def test_official_table_markers_are_missing_values_not_errors():
    for marker in ["-", "..", "[x]", "[c]", "n/a", "", " : ", "x", "\u2026"]:
        raw = raw_frame([{"council_code": "E06000001", "amount": marker}])
        staged = stage_rows(raw, TINY, "tiny", MAPS)
        assert staged.quarantine.is_empty(), marker
        assert staged.valid.get_column("amount").to_list() == [None], marker
    for text, value in {"1,234": 1234.0, "£5": 5.0, " 7.5 ": 7.5, "-0": 0.0}.items():
        raw = raw_frame([{"council_code": "E06000001", "amount": text}])
        staged = stage_rows(raw, TINY, "tiny", MAPS)
        assert staged.valid.get_column("amount").to_list() == [value], text


def test_spreadsheet_formula_error_is_named_as_such():
    raw = raw_frame([{"council_code": "E06000001", "amount": "#DIV/0!"}])
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    row = only(staged.quarantine)
    assert row["reason"] == "spreadsheet formula error in the cell"
    assert row["failure_value"] == "#DIV/0!"
    assert staged.valid.is_empty()


def test_rows_out_of_scope_are_recorded_not_dropped():
    raw = raw_frame(
        [
            {"council_code": "E92000001", "amount": "999", "kind": "total"},
            {"council_code": "E06000001", "amount": "1"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    row = only(staged.quarantine)
    assert (row["source_row_number"], row["disposition"], row["check_name"]) == (
        2,
        OUT_OF_SCOPE,
        "in scope",
    )
    assert row["reason"] == "a total row"
    assert staged.valid.height == 1
    assert count_invariant(raw, staged).get_column("balanced").to_list() == [True]


def test_council_codes_resolve_through_the_map():
    raw = raw_frame(
        [
            {"council_code": "E07000097", "amount": "1"},  # a former code
            {"council_code": " e06000001 ", "amount": "2"},  # case and spaces
            {"council_code": "E06999999", "amount": "3"},  # a council prefix, not in register
            {"council_code": "W06000001", "amount": "4"},  # not an English council
            {"council_code": None, "amount": "5"},  # missing
            {"council_code": "E12000001", "amount": "6"},  # a region
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    valid = {r["source_row_number"]: r for r in staged.valid.iter_rows(named=True)}
    assert set(valid) == {2, 3}
    assert (valid[2]["council_code"], valid[2]["source_council_code"]) == ("E07000242", "E07000097")
    assert (valid[3]["council_code"], valid[3]["source_council_code"]) == ("E06000001", "E06000001")
    assert {v["code_resolved_by"] for v in valid.values()} == {"gss"}
    outcome = {
        r["source_row_number"]: (r["disposition"], r["failure_value"])
        for r in staged.quarantine.iter_rows(named=True)
    }
    assert outcome == {
        4: (REJECTED, "E06999999"),
        5: (OUT_OF_SCOPE, "W06000001"),
        6: (REJECTED, None),
        7: (OUT_OF_SCOPE, "E12000001"),
    }
    assert set(staged.quarantine.get_column("check_name")) == {"council code in register"}
    assert set(staged.quarantine.get_column("column_name")) == {"council_code"}


def test_ecode_fallback_resolves_a_code_the_register_does_not_hold():
    raw = raw_frame(
        [
            {"council_code": "E10000022", "ecode": "E0602", "amount": "1"},
            {"council_code": "E06000001", "ecode": "E0602", "amount": "2"},  # GSS wins
            {"council_code": "E10000099", "ecode": "E9999", "amount": "3"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    resolved = {
        r["source_row_number"]: (r["council_code"], r["source_council_code"], r["code_resolved_by"])
        for r in staged.valid.iter_rows(named=True)
    }
    assert resolved == {
        2: ("E06000002", "E10000022", "ecode"),
        3: ("E06000001", "E06000001", "gss"),
    }
    row = only(staged.quarantine)
    assert (row["source_row_number"], row["disposition"]) == (4, REJECTED)


def test_a_shared_ecode_does_not_reject_a_row_resolved_by_its_gss_code():
    shared = pl.DataFrame({"code": ["E0601", "E0601"], "council_code": ["E06000001", "E06000003"]})
    raw = raw_frame([{"council_code": "E06000001", "ecode": "E0601", "amount": "1"}])
    staged = stage_rows(raw, TINY, "tiny", {"gss": GSS_MAP, "ecode": shared})
    assert staged.quarantine.is_empty(), staged.quarantine.select("reason")
    assert staged.valid.get_column("council_code").to_list() == ["E06000001"]


def test_council_codes_need_their_maps():
    raw = raw_frame([{"council_code": "E06000001"}])
    with pytest.raises(ValueError, match=r"\['ecode', 'gss'\]"):
        stage_rows(raw, TINY, "tiny", {"gss": GSS_MAP})


def test_exact_duplicate_keeps_the_first_and_records_the_repeat():
    row = {"council_code": "E06000001", "amount": "1"}
    raw = raw_frame([row, {"council_code": "E06000002", "amount": "1"}, row])
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    assert sorted(staged.valid.get_column("source_row_number").to_list()) == [2, 3]
    repeat = only(staged.quarantine)
    assert repeat["source_row_number"] == 4
    assert repeat["disposition"] == DUPLICATE
    assert repeat["failure_value"] == "2"
    assert repeat["reason"] == "repeats row 2 of the same file word for word"
    assert count_invariant(raw, staged).get_column("balanced").to_list() == [True]


def test_same_key_different_content_rejects_every_copy():
    raw = raw_frame(
        [
            {"council_code": "E06000001", "amount": "1"},
            {"council_code": "E06000001", "amount": "2"},
            {"council_code": "E06000002", "amount": "3"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    assert staged.valid.get_column("source_row_number").to_list() == [4]
    assert sorted(staged.quarantine.get_column("source_row_number").to_list()) == [2, 3]
    assert set(staged.quarantine.get_column("check_name")) == {"schema"}
    assert set(staged.quarantine.get_column("disposition")) == {REJECTED}


def test_a_row_failing_two_checks_is_counted_once():
    raw = raw_frame(
        [
            {"council_code": "E06000001", "amount": "-5", "kind": "c"},
            {"council_code": "E06000002", "amount": "5"},
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    failures = {
        (r["column_name"], r["failure_value"]): r["reason"]
        for r in staged.quarantine.iter_rows(named=True)
    }
    assert failures == {
        ("amount", "-5.0"): "greater_than_or_equal_to(0)",
        ("kind", "c"): "isin(['a', 'b'])",
    }
    assert set(staged.quarantine.get_column("source_row_number")) == {2}
    assert staged.quarantined_rows == 1
    assert count_invariant(raw, staged).row(0, named=True) == {
        "load_id": "L1",
        "raw_rows": 2,
        "validated_rows": 1,
        "quarantined_rows": 1,
        "balanced": True,
    }


def test_count_invariant_is_per_load():
    raw = pl.concat(
        [
            raw_frame([{"council_code": "E06000001", "amount": "1"}], load_id="A"),
            raw_frame(
                [
                    {"council_code": "E06000001", "amount": "ten"},
                    {"council_code": "E06000002", "amount": "2"},
                ],
                load_id="B",
            ),
        ]
    )
    staged = stage_rows(raw, TINY, "tiny", MAPS)
    assert count_invariant(raw, staged).select(
        "load_id", "raw_rows", "validated_rows", "quarantined_rows"
    ).rows() == [("A", 1, 1, 0), ("B", 2, 1, 1)]
    # A row lost on the way would show up as an unbalanced load.
    lost = replace(staged, valid=staged.valid.filter(pl.col("load_id") != "A"))
    assert count_invariant(raw, lost).get_column("balanced").to_list() == [False, True]


class NeedsMissingColumn(pa.DataFrameModel):
    council_code: str
    not_in_the_source: str


def test_a_table_level_schema_failure_is_structural():
    spec = StagingSpec(model=NeedsMissingColumn, council_code=CouncilCodeRule())
    raw = raw_frame([{"council_code": "E06000001"}])
    with pytest.raises(StructuralValidationError, match=r"NeedsMissingColumn: .*not_in_the_source"):
        stage_rows(raw, spec, "tiny", {"gss": GSS_MAP})


def _notice(**values: str) -> dict:
    notice = {
        "council_code": "E06000001",
        "council_name": "A",
        "notice_date": "2018-02-02",
        "date_precision": "day",
        "notice_number": "1",
        "note": None,
        "source": "https://example.org/notice",
        "source_quality": "fictional",
    }
    return {**notice, **values}


def _notice_frame(*notices: dict) -> pl.DataFrame:
    lineage = {
        "load_id": "L1",
        "source_path": "sources/registers/section114_notices.csv",
        "file_sha256": "0" * 64,
        "loaded_at": None,
        "source_column": None,
        "extra": None,
        "load_period": None,
        "load_theme": None,
        "load_published": None,
    }
    return pl.DataFrame(
        [{**lineage, "source_row_number": i + 2, **n} for i, n in enumerate(notices)],
        schema_overrides={
            c: pl.String for c in ["source_column", "extra", "load_period", "load_theme", "note"]
        }
        | {"loaded_at": pl.Datetime, "load_published": pl.Date},
    )


def test_section114_dates_and_numbers_are_typed():
    raw = _notice_frame(
        _notice(notice_date="2018-02-02", notice_number="2"),
        _notice(notice_date="2018-02-30", notice_number="3"),
        _notice(notice_date="02/07/2018", notice_number="4"),
        _notice(notice_date="2019-07-24T00:00:00", notice_number="", council_code="E06000002"),
    )
    staged = stage_rows(raw, SECTION114_NOTICES, "section114_notices", MAPS)
    valid = staged.valid.select("source_row_number", "notice_date", "notice_number").rows()
    assert valid == [(2, date(2018, 2, 2), 2), (5, date(2019, 7, 24), None)]
    rejected = staged.quarantine.select("source_row_number", "column_name", "failure_value").rows()
    assert rejected == [(3, "notice_date", "2018-02-30"), (4, "notice_date", "02/07/2018")]


def test_a_fractional_integer_is_rejected_not_truncated():
    raw = _notice_frame(_notice(notice_number="1.5"))
    staged = stage_rows(raw, SECTION114_NOTICES, "section114_notices", MAPS)
    assert staged.valid.is_empty(), staged.valid.select("notice_number")
    row = only(staged.quarantine)
    assert (row["column_name"], row["failure_value"]) == ("notice_number", "1.5")


def test_a_blank_council_code_is_rejected_as_missing():
    raw = _notice_frame(_notice(council_code="   "))
    staged = stage_rows(raw, SECTION114_NOTICES, "section114_notices", MAPS)
    row = only(staged.quarantine)
    assert row["disposition"] == REJECTED
    assert row["column_name"] == "council_code"


# --------------------------------------------------------------------------------------------
# Through Dagster, on the fictional estate (answers known by construction)
# --------------------------------------------------------------------------------------------


def test_fictional_estate_materialises_every_foundation_asset(fictional_base):
    result = fictional_base.result
    assert result is not None and result.success
    expected = {f"raw/{s}" for s in SOURCES} | {f"validated/{s}" for s in SOURCES}
    derived = {"validated/council_code_map"}
    assert fictional_base.materialized() == expected | derived
    for source in SOURCES:
        assert fictional_base.check(f"validated/{source}", "rows_pass_schema").passed, source
        assert fictional_base.check(f"validated/{source}", "raw_rows_accounted_for").passed


def test_fictional_counts_by_construction(fictional_base, estate: Estate):
    n = len(estate.councils)
    counties = sum(c.authority_type == "CTY" for c in estate.councils)
    social_care = sum(c.authority_type in {"CTY", "UA", "MD", "LBO"} for c in estate.councils)
    quarters = 13 * 4  # 2010-11 Q1 .. 2022-23 Q4
    billing = n - counties  # counties do not bill council tax
    expected_validated = {
        "council_register": n,
        "council_gss_lookup": n,
        "council_name_lookup": 2 * n,  # name and official name
        "nearest_neighbours": n,
        "data_explorer_metrics": social_care * 7 * 8,  # 7 measures, 8 years
        "revenue_outturn": 3 * n,
        "council_tax_receipts": billing * quarters,
        "section114_notices": 5,
        "interventions": 0,
        "audit_findings": 0,
        "peer_challenges": 0,
    }
    for source, rows in expected_validated.items():
        count = fictional_base.scalar(f"SELECT count(*) FROM validated.{source}")
        assert count == rows, source
        metadata = fictional_base.metadata(f"validated/{source}")
        assert metadata["dagster/row_count"] == rows, source
    # The England total row of the receipts table is out of scope, cell by cell.
    out = fictional_base.quarantine("council_tax_receipts")
    assert len(out) == quarters
    assert {(r["disposition"], r["source_row_number"]) for r in out} == {(OUT_OF_SCOPE, 7)}
    assert fictional_base.metadata("validated/council_tax_receipts")["quarantined_rows"] == quarters
    assert fictional_base.scalar("SELECT count(*) FROM raw.council_tax_receipts") == (
        (billing + 1) * quarters
    )


def test_fictional_register_is_typed(fictional_base, estate: Estate):
    types = {
        "CTY": "county",
        "NMD": "district",
        "UA": "unitary",
        "MD": "metropolitan district",
        "LBO": "london borough",
    }
    rows = fictional_base.dicts(
        "SELECT gss_code, register_code, council_name, council_type, region, ecode, "
        "population_2020, is_current, source_row_number FROM validated.council_register"
    )
    by_code = {r["gss_code"]: r for r in rows}
    assert len(by_code) == len(estate.councils)
    for i, council in enumerate(estate.councils):
        row = by_code[council.gss_code]
        assert row["register_code"] == council.register_code
        assert row["council_name"] == council.name
        assert row["council_type"] == types[council.authority_type]
        assert row["region"] == council.region
        assert row["ecode"] == council.ecode
        assert row["population_2020"] == float(council.population)
        assert row["is_current"] is True
        assert row["source_row_number"] == i + 2


def test_fictional_revenue_outturn_values(fictional_base, estate: Estate, rs_values):
    rows = fictional_base.dicts("SELECT * FROM validated.revenue_outturn")
    got = {(r["council_code"], r["period"]): r for r in rows}
    assert len(got) == 3 * len(estate.councils)
    for i, council in enumerate(estate.councils):
        for year, figures in rs_values[council.gss_code].items():
            row = got[(council.gss_code, year)]
            assert row["source_row_number"] == 8 + i
            assert row["source_path"] == f"sources/bbc_council_reserves/{RS_FILES[year]}"
            assert row["year_start"] == int(year[:4])
            assert row["period_end"] == date(int(year[:4]) + 1, 3, 31)
            assert row["code_resolved_by"] == "gss"
            assert row["net_revenue_expenditure"] == figures["nre"]
            for kind in ("schools", "public_health", "earmarked", "unallocated"):
                for when in ("start", "end"):
                    column = f"{kind}_reserves_{when}"
                    assert row[column] == figures[f"{kind}_{when}"], (council.gss_code, column)


def test_fictional_receipts_quarters(fictional_base, estate: Estate):
    council = next(c for c in estate.councils if c.authority_type != "CTY")
    rows = fictional_base.dicts(
        "SELECT quarter_label, quarter_start, quarter_end, financial_year, fiscal_quarter, "
        "source_column, source_row_number FROM validated.council_tax_receipts "
        "WHERE council_code = ? ORDER BY quarter_start",
        [council.gss_code],
    )
    assert len(rows) == 52
    first, last = rows[0], rows[-1]
    assert first["quarter_label"] == first["source_column"] == "April to June 2010 (Q1)"
    assert (first["quarter_start"], first["quarter_end"]) == (date(2010, 4, 1), date(2010, 6, 30))
    assert (first["financial_year"], first["fiscal_quarter"]) == ("2010-11", 1)
    assert last["quarter_label"] == "January to March 2023 (Q4)"
    assert (last["quarter_start"], last["quarter_end"]) == (date(2023, 1, 1), date(2023, 3, 31))
    assert (last["financial_year"], last["fiscal_quarter"]) == ("2022-23", 4)
    # Counties are skipped in the table, so the row is 8 + the council's place among billers.
    billers = [c for c in estate.councils if c.authority_type != "CTY"]
    assert {r["source_row_number"] for r in rows} == {8 + billers.index(council)}


def test_fictional_neighbours_and_notices(fictional_base, estate: Estate, s114_rows):
    group_size = {}
    for council in estate.councils:
        group_size[council.authority_type] = group_size.get(council.authority_type, 0) + 1
    counts = dict(
        fictional_base.query("SELECT council_code, n_neighbours FROM validated.nearest_neighbours")
    )
    for council in estate.councils:
        assert counts[council.gss_code] == min(16, group_size[council.authority_type])
    notices = fictional_base.query(
        "SELECT council_code, notice_date, notice_number, source_row_number "
        "FROM validated.section114_notices ORDER BY source_row_number"
    )
    assert notices == [
        (row[0], date.fromisoformat(row[2]), int(row[4]), line)
        for line, row in enumerate(s114_rows, start=2)
    ]


def test_every_raw_row_is_accounted_for_per_load(fictional_base):
    for source in SOURCES:
        unbalanced = fictional_base.query(
            f"""
            WITH raw AS (
                SELECT r.load_id, count(*) AS n FROM raw.{source} r
                JOIN raw.current_loads c ON c.load_id = r.load_id GROUP BY 1),
            ok AS (SELECT load_id, count(*) AS n FROM validated.{source} GROUP BY 1),
            bad AS (
                SELECT load_id, count(DISTINCT (source_path, source_row_number, source_column))
                    AS n
                FROM validated.quarantine WHERE source_id = ? GROUP BY 1)
            SELECT raw.load_id, raw.n, ok.n, bad.n FROM raw
            LEFT JOIN ok USING (load_id) LEFT JOIN bad USING (load_id)
            WHERE raw.n <> coalesce(ok.n, 0) + coalesce(bad.n, 0)
            """,
            [source],
        )
        assert unbalanced == [], source


# ---- codes: former codes, abolished councils, ambiguity, E-code fallback ---------------------


@pytest.fixture(scope="module")
def recoded(copy_fictional, estate: Estate):
    """One register rewrite, materialised once for the tests below: council 0 gains a former
    code in the register, council 2 one in the GSS lookup, council 1 is abolished (replaced by
    council 0), and councils 3 and 4 both claim the same former code."""
    pipeline = copy_fictional("recoded")
    c = estate.councils

    def register(rows):
        header = rows[0]
        column = {name: header.index(name) for name in header}
        for row in rows[1:]:
            gss = row[column["gss-code"]]
            if gss == c[0].gss_code:
                row[column["former-gss-codes"]] = "E10900099"
            if gss == c[1].gss_code:
                row[column["end-date"]] = "2020-04-01"
                row[column["replaced-by"]] = c[0].register_code
            if gss in (c[3].gss_code, c[4].gss_code):
                row[column["former-gss-codes"]] = "E07900050"

    pipeline.rewrite_csv(REGISTER_CSV, register)
    pipeline.rewrite_csv(
        GSS_LOOKUP_CSV, lambda rows: rows.append(["E10900098", c[2].register_code])
    )
    pipeline.write_s114(
        [
            ["E10900099", "old code in register", "2019-01-01", "day", "", "", "src", "q"],
            ["e10900098", "old code in lookup", "2019-01-02", "day", "", "", "src", "q"],
            [c[1].gss_code, "abolished council", "2019-01-03", "day", "", "", "src", "q"],
            ["E07900050", "either of two", "2019-01-04", "day", "", "", "src", "q"],
        ]
    )
    pipeline.materialize([*REGISTER_CHAIN, *S114])
    return pipeline


def test_former_codes_resolve_to_their_council(recoded, estate: Estate):
    a, c = estate.councils[0], estate.councils[2]
    assert recoded.query(
        "SELECT council_code, source_council_code, source_row_number "
        "FROM validated.section114_notices WHERE source_row_number IN (2, 3) ORDER BY 3"
    ) == [(a.gss_code, "E10900099", 2), (c.gss_code, "E10900098", 3)]
    assert dict(
        recoded.query(
            "SELECT code, council_code FROM validated.council_code_map "
            "WHERE code IN ('E10900099', 'E10900098')"
        )
    ) == {"E10900099": a.gss_code, "E10900098": c.gss_code}


def test_abolished_council_remains_valid(recoded, estate: Estate):
    a, b = estate.councils[0], estate.councils[1]
    assert recoded.dicts(
        "SELECT is_current, end_date, replaced_by FROM validated.council_register "
        "WHERE gss_code = ?",
        [b.gss_code],
    ) == [{"is_current": False, "end_date": date(2020, 4, 1), "replaced_by": a.register_code}]
    assert recoded.query(
        "SELECT council_code FROM validated.section114_notices WHERE source_row_number = 4"
    ) == [(b.gss_code,)]
    assert recoded.scalar("SELECT count(*) FROM validated.council_register") == len(estate.councils)


def test_an_ambiguous_former_code_is_left_out_of_the_map(recoded):
    assert recoded.query("SELECT * FROM validated.council_code_map WHERE code = 'E07900050'") == []
    [row] = recoded.quarantine("section114_notices")
    assert (row["disposition"], row["failure_value"], row["source_row_number"]) == (
        REJECTED,
        "E07900050",
        5,
    )
    assert not recoded.check("validated/section114_notices", "rows_pass_schema").passed
    assert recoded.scalar("SELECT count(*) FROM validated.section114_notices") == 3


def test_an_ambiguous_former_code_is_reported(recoded):
    assert "E07900050" in recoded.metadata("validated/council_code_map")["ambiguous_codes"]


def test_ecode_fallback_in_a_workbook(fictional, estate: Estate, rs_values):
    # Council 3's row carries an ONS code the register does not know, but its own E-code;
    # council 5's row carries neither a known ONS code nor a known E-code.
    three, five = estate.councils[3], estate.councils[5]
    councils = list(estate.councils)
    councils[3] = replace(three, gss_code="E06900777")
    councils[5] = replace(five, gss_code="E06900888", ecode="E9ZZZZZ")
    values = dict(rs_values)
    values["E06900777"] = rs_values[three.gss_code]
    values["E06900888"] = rs_values[five.gss_code]
    fictional.write_rs("2015-16", Estate(councils=councils), values)
    result = fictional.materialize(RS)
    assert result.success
    resolved = fictional.query(
        "SELECT council_code, source_council_code, code_resolved_by, source_row_number "
        "FROM validated.revenue_outturn WHERE period = '2015-16' AND source_row_number IN (11, 13)"
    )
    assert resolved == [(three.gss_code, "E06900777", "ecode", 11)]
    [row] = fictional.quarantine("revenue_outturn")
    assert (row["source_row_number"], row["column_name"], row["failure_value"]) == (
        13,
        "council_code",
        "E06900888",
    )
    assert row["disposition"] == REJECTED
    assert row["source_path"].endswith("RS_2015-16_data_by_LA_-_Revision.xlsx")


# ---- a structural validation error fails the asset, naming the file -----------------------


class BrokenNotices(pa.DataFrameModel):
    council_code: str
    a_column_no_source_has: str


def test_structural_validation_error_fails_naming_the_file(fictional, monkeypatch):
    broken = replace(SECTION114_NOTICES, model=BrokenNotices, output_columns=None)
    monkeypatch.setitem(validated_module.STAGING_SPECS, "section114_notices", broken)
    asset = validated_module.build_validated_asset("section114_notices")
    raw = next(a for a in raw_assets if a.key.to_user_string() == "raw/section114_notices")
    result = fictional.materialize(selection=S114, raise_on_error=False, assets=[raw, asset])
    assert not result.success
    message = fictional.failure("validated__section114_notices")
    assert "section114_notices (sources/registers/section114_notices.csv)" in message
    assert "BrokenNotices" in message and "a_column_no_source_has" in message
    failure = fictional.failures()["validated__section114_notices"]
    assert failure.user_failure_data is not None
    # The previous validated table is left as it was.
    assert fictional.scalar("SELECT count(*) FROM validated.section114_notices") == 5


def test_validated_metadata_names_table_and_schema(fictional_base):
    metadata = fictional_base.metadata("validated/revenue_outturn")
    assert metadata["table"] == "validated.revenue_outturn"
    assert metadata["raw_rows"] == metadata["dagster/row_count"] + metadata["quarantined_rows"]
    columns = {c.name: c.type for c in metadata["dagster/column_schema"].columns}
    assert columns["unallocated_reserves_end"] == "Float64"
    assert columns["period_end"] == "Date"
    assert columns["source_row_number"] == "Int64"
    assert metadata["quarantine_sample"] == "_none_"
