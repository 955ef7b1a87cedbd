"""Freshness of each dated source: how old the newest period in its validated table is.

Dagster's own freshness checks measure when an asset was last *materialised*; a re-run of the
pipeline on the same 2018 files would look fresh to them. This measures the *data*: the newest
period end (or event date) in `validated.<source>`, its age in days at `today`, and whether that
age is within the source's limit below. A failing check is a warning (the watchlist is still
built, from the newest evidence there is), never an error.

Limits are chosen from each source's publication rhythm (METHOD.md, section 1): a source is
stale when its newest period is older than one normal cycle plus the publication lag, i.e. at
least one edition that should be public is missing.

Empty tables: statistical returns (outturn, Data Explorer, council tax) always have rows, so an
empty table fails. Event registers (section 114 notices, audit findings, peer challenges) may
rightly have none: the audit and peer-challenge registers ship empty and analysts add one cited
row per published report. An empty register passes with "no rows" in the metadata rather than
warning on every run from day one; the evidence that is missing is already visible where it
matters, as lower coverage in the watchlist. Once a register has rows, its newest row must be
recent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from pipelines.sql import query_frame, with_identifiers


@dataclass(frozen=True)
class FreshnessRule:
    source_id: str
    column: str
    max_age_days: int
    empty_ok: bool
    rationale: str


RULES: dict[str, FreshnessRule] = {
    rule.source_id: rule
    for rule in (
        FreshnessRule(
            "revenue_outturn",
            "period_end",
            730,
            False,
            "Annual, year ending 31 March, final outturn public about 230 days later: the next "
            "year is due within 595 days; two years means an edition is missing.",
        ),
        FreshnessRule(
            "data_explorer_metrics",
            "period_end",
            730,
            False,
            "Annual financial-year metrics, public about 240 days after the year ends.",
        ),
        FreshnessRule(
            "council_tax_receipts",
            "quarter_end",
            200,
            False,
            "Quarterly, public about 80 days after the quarter: 90 + 80 days plus a month's grace.",
        ),
        FreshnessRule(
            "section114_notices",
            "notice_date",
            730,
            True,
            "Notices are rare events; none recorded for two years more likely means the "
            "register was not kept up than that none were issued.",
        ),
        FreshnessRule(
            "audit_findings",
            "finding_date",
            365,
            True,
            "Auditors report on every council every year; a register kept up has findings "
            "within the last year.",
        ),
        FreshnessRule(
            "peer_challenges",
            "challenge_date",
            365,
            True,
            "The LGA holds Corporate Peer Challenges throughout the year.",
        ),
        FreshnessRule(
            "best_value_notices",
            "event_date",
            730,
            True,
            "Notices are issued, reissued or lifted every few months; none for two years more "
            "likely means the register was not kept up.",
        ),
        FreshnessRule(
            "exceptional_financial_support",
            "decision_date",
            730,
            True,
            "Decided in an annual round each winter; two years without one means a round was "
            "not recorded.",
        ),
        FreshnessRule(
            "la_finance_metrics",
            "period_end",
            730,
            False,
            "Annual financial-year figures, public the following autumn or winter.",
        ),
        FreshnessRule(
            "core_spending_power",
            "period_end",
            730,
            False,
            "Set each year at the settlement, before the year it covers begins.",
        ),
        FreshnessRule(
            "borrowing_live_table",
            "period_end",
            200,
            False,
            "Quarterly borrowing and investment statistics, public about three months after "
            "each quarter: 90 + 90 days plus a few weeks' grace.",
        ),
        FreshnessRule(
            "investments_live_table",
            "period_end",
            200,
            False,
            "Published with the borrowing live table, on the same quarterly rhythm.",
        ),
        *(
            FreshnessRule(
                source_id,
                "period_end",
                730,
                False,
                "Annual capital outturn return, public about ten months after the year ends.",
            )
            for source_id in (
                "prudential_indicators",
                "capital_outturn_cfr",
                "capital_outturn_borrowing",
            )
        ),
        FreshnessRule(
            "waste_indicators",
            "period_end",
            730,
            False,
            "Annual local authority waste statistics, public about a year after the year ends.",
        ),
        *(
            FreshnessRule(
                source_id,
                "period_end",
                730,
                False,
                "Annual road condition statistics, public the following winter.",
            )
            for source_id in ("road_condition_a_roads", "road_condition_b_c_roads")
        ),
        FreshnessRule(
            "adult_skills",
            "period_end",
            730,
            False,
            "Annual further education and skills statistics by academic year, public the "
            "following autumn.",
        ),
        FreshnessRule(
            "ofsted_ilacs",
            "published_on",
            120,
            False,
            "Ofsted publishes children's services inspection reports in every month of term; "
            "none for four months means the file is an old extract.",
        ),
        FreshnessRule(
            "ofsted_children_services_mi",
            "as_at_date",
            240,
            False,
            "Ofsted's management information is refreshed several times a year.",
        ),
    )
}


@dataclass(frozen=True)
class Freshness:
    """The answer for one source on one day."""

    source_id: str
    column: str
    today: date
    rows: int
    newest: date | None
    max_age_days: int
    passed: bool
    summary: str

    @property
    def age_days(self) -> int | None:
        return None if self.newest is None else (self.today - self.newest).days


def assess(
    rule: FreshnessRule, rows: int, newest: date | None, today: date | None = None
) -> Freshness:
    """Whether a source whose newest `rule.column` is `newest` is fresh at `today`."""
    today = today or date.today()
    if newest is None:
        passed = rule.empty_ok
        summary = (
            f"no rows: {rule.source_id} is an event register that may rightly be empty"
            if passed
            else f"no rows: {rule.source_id} has no dated rows, so there is no evidence to use"
        )
    else:
        age = (today - newest).days
        if age < 0:
            passed = False
            summary = f"newest {rule.column} {newest} is after today ({today}): a date is wrong"
        else:
            passed = age <= rule.max_age_days
            summary = (
                f"newest {rule.column} {newest} is {age} days old at {today}; "
                f"limit {rule.max_age_days} days"
                + ("" if passed else f" ({age - rule.max_age_days} days over)")
            )
    return Freshness(
        source_id=rule.source_id,
        column=rule.column,
        today=today,
        rows=rows,
        newest=newest,
        max_age_days=rule.max_age_days,
        passed=passed,
        summary=summary,
    )


def measure(
    connection: duckdb.DuckDBPyConnection, source_id: str, today: date | None = None
) -> Freshness:
    """Freshness of `validated.<source_id>` (its rule in RULES) at `today` (default: today).
    The table and column come from RULES, never from input."""
    rule = RULES[source_id]
    newest = query_frame(
        connection,
        with_identifiers(
            "quality/newest_period", table=f"validated.{rule.source_id}", column=rule.column
        ),
    ).row(0, named=True)
    return assess(rule, int(newest["n"]), newest["newest"], today)
