"""Bad input for the governance registers (issue 13): the transcribed audit, peer-challenge,
Best Value Notice and intervention registers and the exceptional financial support list.

Same runner and vocabulary as tests/test_bad_input_corpus.py (`Case`, `Q`, `run_case`): each
case breaks one register of a private copy of the fictional estate, re-materialises its raw
and validated assets through Dagster and asserts the exact quarantine, and that raw =
validated + quarantined. Registers that name a council rather than code it are matched to the
register by name; a name that matches nothing is rejected with that reason.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from test_bad_input_corpus import ROW, Case, Ctx, Q, rows_of, run_case, write_dicts

from checks.schemas.common import URL
from checks.schemas.known_cases import BEST_VALUE_EVENTS, SUPPORT_TYPES
from pipelines.synthetic import REGISTER_HEADERS

AUDIT_CSV = "sources/registers/audit_findings.csv"
PC_CSV = "sources/registers/peer_challenges.csv"
BVN_CSV = "sources/registers/best_value_notices.csv"
IV_CSV = "sources/registers/interventions.csv"
EFS_CSV = "sources/registers/exceptional_financial_support_2020_2024.csv"

NO_NAME_MATCH = (
    "no council code, and the council name matches no English council in the register's name "
    "lookup (exactly, nor once 'Council', 'Borough of' and the like are set aside), or matches "
    "more than one"
)
NOT_IN_REGISTER = "council code missing, or not in the register (nor a former code)"
COMBINED_AUTHORITY = "not a council (a combined authority): kept out of the council registers"
FUTURE_AUDIT = "finding and publication dates not after the day the file was loaded"
PLACED_AUDIT = (
    "a finding date exactly when its precision is day, month or year (none when the date is "
    "unplaceable)"
)


def _council(ctx: Ctx, index: int):
    return ctx.estate.councils[index]


def audit(ctx: Ctx, index: int, **change: str) -> dict[str, str]:
    """A transcribed-style finding: the council named, no code, the date placed and cited."""
    council = _council(ctx, index)
    row = {
        "council_code": "",
        "council_name": f"{council.name} Council",
        "financial_year": "2018-19",
        "finding_type": "vfm_significant_weakness",
        "vfm_criterion": "financial_sustainability",
        "finding_date": "2019-10-15",
        "source_url": "https://example.org/fictional/aar-2018-19",
        "date_precision": "day",
        "date_as_stated": "2018/19 (committee 15 Oct 2019)",
        "date_basis": "committee date stated",
        "exact_phrase": "a significant weakness in financial sustainability (fictional)",
    }
    return {**row, **change}


def _write(relative: str, *makers) -> Any:
    def breaks(p, ctx: Ctx) -> None:
        header = REGISTER_HEADERS[_header_of(relative)]
        records = [make(ctx) for make in makers]
        # The synthetic estate writes the header; make sure every record uses it.
        assert rows_of(p, relative)[0] == header
        write_dicts(p, relative, records)

    return breaks


def _header_of(relative: str) -> str:
    return {
        AUDIT_CSV: "audit_findings",
        PC_CSV: "peer_challenges",
        BVN_CSV: "best_value_notices",
        IV_CSV: "interventions",
        EFS_CSV: "exceptional_financial_support",
    }[relative]


def _unplaceable_kept(p, ctx: Ctx) -> None:
    council = _council(ctx, 1)
    rows = p.query(
        "SELECT council_code, finding_date, date_precision, date_as_stated "
        "FROM validated.audit_findings ORDER BY source_row_number"
    )
    assert (council.gss_code, None, "unplaceable", "November (year not stated)") in rows


def _named_and_coded(p, ctx: Ctx) -> None:
    rows = p.query(
        "SELECT council_code, code_resolved_by FROM validated.audit_findings "
        "ORDER BY source_row_number"
    )
    assert rows == [
        (_council(ctx, 0).gss_code, "name (generic words set aside)"),
        (_council(ctx, 2).gss_code, "gss"),
    ]


def bvn(ctx: Ctx, index: int, **change: str) -> dict[str, str]:
    council = _council(ctx, index)
    row = {
        "council_code": "",
        "council_name": council.name,
        "event_type": "notice_issued",
        "event_date": "2020-05-31",
        "date_precision": "month",
        "date_as_stated": "2020-05",
        "source_url": "https://example.org/fictional/bvn",
        "exact_phrase": "a Best Value Notice was issued (fictional)",
    }
    return {**row, **change}


def challenge(ctx: Ctx, index: int, **change: str) -> dict[str, str]:
    council = _council(ctx, index)
    row = {
        "council_code": "",
        "council_name": council.name,
        "challenge_date": "2019-01-31",
        "source_url": "https://example.org/fictional/cpc",
        "date_precision": "month",
        "date_as_stated": "2019-01",
        "follow_up_recorded": "no",
        "exact_phrase": "a corporate peer challenge in January 2019 (fictional)",
    }
    return {**row, **change}


def intervention(ctx: Ctx, index: int, **change: str) -> dict[str, str]:
    council = _council(ctx, index)
    row = {
        "gss_code": "",
        "authority": council.name,
        "intervention": "statutory intervention: commissioners",
        "date_or_period": "2010-2021 (year not stated per council)",
        "evidence_seen": "fictional",
        "source": "https://example.org/fictional/iv",
        "source_quality": "fictional",
        "start_date": "",
        "date_precision": "unplaceable",
        "source_url": "https://example.org/fictional/iv",
    }
    return {**row, **change}


def support(ctx: Ctx, index: int, **change: str) -> dict[str, str]:
    council = _council(ctx, index)
    row = {
        "decision_year_page": "2020-21",
        "gss_code": council.gss_code,
        "authority": council.name,
        "headline_amount_gbp_m": "12.5",
        "support_type": "capitalisation",
        "source_url": "https://example.org/fictional/efs-2020-21",
        "year_list_complete_in_source": "yes",
    }
    return {**row, **change}


def _iv_placed(p, ctx: Ctx) -> None:
    rows = p.query(
        "SELECT council_code, start_date, start_date_precision, start_date_state "
        "FROM validated.interventions ORDER BY source_row_number"
    )
    assert rows == [
        (_council(ctx, 0).gss_code, None, "unplaceable", "not stated"),
        (_council(ctx, 1).gss_code, date(2021, 3, 31), "month", "stated"),
    ]


def _efs_placed(p, ctx: Ctx) -> None:
    # No decision date transcribed: the end of the decision year, precision "year".
    rows = p.query(
        "SELECT council_code, decision_date, date_precision FROM validated."
        "exceptional_financial_support ORDER BY source_row_number"
    )
    assert rows == [
        (_council(ctx, 0).gss_code, date(2021, 3, 31), "year"),
        (_council(ctx, 1).gss_code, date(2023, 2, 6), "day"),
    ]


GOVERNANCE_CASES: dict[str, Case] = {
    # ---- Audit findings (transcribed layout) --------------------------------------------------
    "audit council name matches nothing": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, council_name="Nowhereshire Borough Council"),
        ),
        quarantined=(Q(3, "council_code", "council code in register", None, NO_NAME_MATCH),),
        raw_delta=2,
    ),
    "audit unknown E-code is not papered over by the name": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, council_code="E06999999"),
        ),
        quarantined=(
            Q(3, "council_code", "council code in register", "E06999999", NOT_IN_REGISTER),
        ),
        raw_delta=2,
    ),
    "audit name matched without 'Council'; code given is used": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 2, council_code=_council(c, 2).gss_code, council_name="x"),
        ),
        raw_delta=2,
        also=_named_and_coded,
    ),
    "audit finding dated in the future": Case(
        "audit_findings",
        _write(AUDIT_CSV, lambda c: audit(c, 0), lambda c: audit(c, 1, finding_date="2099-01-01")),
        quarantined=(Q(3, "(row)", "schema", ROW, FUTURE_AUDIT),),
        raw_delta=2,
    ),
    "audit impossible date": Case(
        "audit_findings",
        _write(AUDIT_CSV, lambda c: audit(c, 0), lambda c: audit(c, 1, finding_date="2023-02-30")),
        quarantined=(Q(3, "finding_date", "parse as Date", "2023-02-30", "not a valid Date"),),
        raw_delta=2,
    ),
    "audit missing source_url": Case(
        "audit_findings",
        _write(AUDIT_CSV, lambda c: audit(c, 0), lambda c: audit(c, 1, source_url="")),
        quarantined=(Q(3, "source_url", "schema", None, "not_nullable"),),
        raw_delta=2,
    ),
    "audit source_url not http(s)": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, source_url="javascript:alert(1)"),
        ),
        quarantined=(Q(3, "source_url", "schema", "javascript:alert(1)", f"str_matches('{URL}')"),),
        raw_delta=2,
    ),
    "audit unplaceable date kept, not placed": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(
                c,
                1,
                finding_date="",
                date_precision="unplaceable",
                date_as_stated="November (year not stated)",
            ),
        ),
        raw_delta=2,
        also=_unplaceable_kept,
    ),
    "audit date with precision 'unplaceable' is contradictory": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, date_precision="unplaceable"),
        ),
        quarantined=(Q(3, "(row)", "schema", ROW, PLACED_AUDIT),),
        raw_delta=2,
    ),
    "audit no date and no precision": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, finding_date="", date_precision=""),
        ),
        quarantined=(Q(3, "date_precision", "schema", None, "not_nullable"),),
        raw_delta=2,
    ),
    "audit row repeated word for word": Case(
        "audit_findings",
        _write(AUDIT_CSV, lambda c: audit(c, 0), lambda c: audit(c, 1), lambda c: audit(c, 1)),
        quarantined=(
            Q(
                4,
                "(row)",
                "exact duplicate",
                "3",
                "repeats row 3 of the same file word for word",
                disposition="duplicate",
            ),
        ),
        raw_delta=3,
    ),
    "audit combined authority out of scope": Case(
        "audit_findings",
        _write(
            AUDIT_CSV,
            lambda c: audit(c, 0),
            lambda c: audit(c, 1, council_name="North of Fictionshire Combined Authority"),
        ),
        quarantined=(
            Q(3, "(row)", "in scope", None, COMBINED_AUTHORITY, disposition="out_of_scope"),
        ),
        raw_delta=2,
    ),
    # ---- Best Value Notices -------------------------------------------------------------------
    "best value unknown event type": Case(
        "best_value_notices",
        _write(BVN_CSV, lambda c: bvn(c, 0), lambda c: bvn(c, 1, event_type="notice_framed")),
        quarantined=(Q(3, "event_type", "schema", "notice_framed", f"isin({BEST_VALUE_EVENTS})"),),
        raw_delta=2,
    ),
    "best value unplaceable kept; name matches nothing rejected": Case(
        "best_value_notices",
        _write(
            BVN_CSV,
            lambda c: bvn(c, 0, event_date="", date_precision="unplaceable"),
            lambda c: bvn(c, 1, council_name="Atlantis"),
        ),
        quarantined=(Q(3, "council_code", "council code in register", None, NO_NAME_MATCH),),
        raw_delta=2,
    ),
    # ---- Peer challenges ----------------------------------------------------------------------
    "peer challenge unplaceable rows kept apart": Case(
        "peer_challenges",
        _write(
            PC_CSV,
            lambda c: challenge(c, 0),
            lambda c: challenge(
                c, 0, challenge_date="", date_precision="unplaceable", date_as_stated="before X"
            ),
            lambda c: challenge(
                c, 0, challenge_date="", date_precision="unplaceable", date_as_stated="after Y"
            ),
        ),
        raw_delta=3,
    ),
    # ---- Interventions (transcribed layout) ---------------------------------------------------
    "intervention placed start or unplaceable": Case(
        "interventions",
        _write(
            IV_CSV,
            lambda c: intervention(c, 0),
            lambda c: intervention(
                c,
                1,
                date_or_period="March 2021 (post dated 31/03/2021)",
                start_date="2021-03-31",
                date_precision="month",
            ),
        ),
        file=IV_CSV,
        raw_delta=2,
        also=_iv_placed,
    ),
    "intervention ends before it starts": Case(
        "interventions",
        _write(
            IV_CSV,
            lambda c: intervention(
                c, 0, start_date="2014-12-31", date_precision="month", end_date="2014-01-01"
            ),
        ),
        quarantined=(Q(2, "(row)", "schema", ROW, "an intervention ends on or after it starts"),),
        file=IV_CSV,
        raw_delta=1,
    ),
    # ---- Exceptional financial support --------------------------------------------------------
    "support decision placed at the year end unless stated": Case(
        "exceptional_financial_support",
        _write(
            EFS_CSV,
            lambda c: support(c, 0, decision_date=""),
            lambda c: support(c, 1, decision_year_page="2022-23", decision_date="2023-02-06"),
        ),
        raw_delta=2,
        also=_efs_placed,
    ),
    "support unknown E-code, type and year": Case(
        "exceptional_financial_support",
        _write(
            EFS_CSV,
            lambda c: support(c, 0),
            lambda c: support(c, 1, gss_code="E06999998"),
            lambda c: support(c, 2, support_type="loan"),
            lambda c: support(c, 3, decision_year_page="2020-22"),
        ),
        quarantined=(
            Q(3, "council_code", "council code in register", "E06999998", NOT_IN_REGISTER),
            Q(4, "support_type", "schema", "loan", f"isin({SUPPORT_TYPES})"),
            Q(
                5,
                "decision_year",
                "schema",
                "2020-22",
                "a financial year of consecutive years (2020-21)",
            ),
        ),
        raw_delta=4,
    ),
}


@pytest.mark.parametrize("name", list(GOVERNANCE_CASES), ids=list(GOVERNANCE_CASES))
def test_governance_corpus_case(name, fictional, estate, rs_values, s114_rows, xlsx_cells):
    run_case(GOVERNANCE_CASES[name], fictional, estate, rs_values, s114_rows, xlsx_cells)
