"""One pandera model and staging spec per source: the schema is the table's documentation."""

from checks.schemas.audit import AUDIT_FINDINGS, PEER_CHALLENGES
from checks.schemas.data_explorer import DATA_EXPLORER_METRICS
from checks.schemas.finance import COUNCIL_TAX_RECEIPTS, REVENUE_OUTTURN
from checks.schemas.finance_metrics import CORE_SPENDING_POWER, LA_FINANCE_METRICS
from checks.schemas.known_cases import (
    BEST_VALUE_NOTICES,
    EXCEPTIONAL_FINANCIAL_SUPPORT,
    INTERVENTIONS,
    SECTION114_NOTICES,
)
from checks.schemas.notes import NOTES
from checks.schemas.peers import NEAREST_NEIGHBOURS
from checks.schemas.register import COUNCIL_GSS_LOOKUP, COUNCIL_NAME_LOOKUP, COUNCIL_REGISTER
from checks.validation import StagingSpec

STAGING_SPECS: dict[str, StagingSpec] = {
    "council_register": COUNCIL_REGISTER,
    "council_gss_lookup": COUNCIL_GSS_LOOKUP,
    "council_name_lookup": COUNCIL_NAME_LOOKUP,
    "data_explorer_metrics": DATA_EXPLORER_METRICS,
    "nearest_neighbours": NEAREST_NEIGHBOURS,
    "revenue_outturn": REVENUE_OUTTURN,
    "council_tax_receipts": COUNCIL_TAX_RECEIPTS,
    "section114_notices": SECTION114_NOTICES,
    "interventions": INTERVENTIONS,
    "audit_findings": AUDIT_FINDINGS,
    "peer_challenges": PEER_CHALLENGES,
    "analyst_notes": NOTES,
    "best_value_notices": BEST_VALUE_NOTICES,
    "exceptional_financial_support": EXCEPTIONAL_FINANCIAL_SUPPORT,
}

# Service outcomes (waste, roads, adult skills, children's services): appended, not interleaved,
# so parallel work on this registry merges cleanly.
from checks.schemas.services import (  # noqa: E402
    ADULT_SKILLS,
    OFSTED_CHILDREN_SERVICES_MI,
    OFSTED_ILACS,
    ROAD_CONDITION_A_ROADS,
    ROAD_CONDITION_B_C_ROADS,
    WASTE_INDICATORS,
)

STAGING_SPECS |= {
    "waste_indicators": WASTE_INDICATORS,
    "road_condition_a_roads": ROAD_CONDITION_A_ROADS,
    "road_condition_b_c_roads": ROAD_CONDITION_B_C_ROADS,
    "adult_skills": ADULT_SKILLS,
    "ofsted_ilacs": OFSTED_ILACS,
    "ofsted_children_services_mi": OFSTED_CHILDREN_SERVICES_MI,
    "la_finance_metrics": LA_FINANCE_METRICS,
    "core_spending_power": CORE_SPENDING_POWER,
}

# Debt (appended): Borrowing and Investment live tables and capital outturn prudential indicators.
from checks.schemas.debt import (  # noqa: E402
    BORROWING_LIVE_TABLE,
    CAPITAL_OUTTURN_BORROWING,
    CAPITAL_OUTTURN_CFR,
    CAPITAL_OUTTURN_NAME_LOOKUP,
    INVESTMENTS_LIVE_TABLE,
    PRUDENTIAL_INDICATORS,
)

STAGING_SPECS.update(
    {
        "borrowing_live_table": BORROWING_LIVE_TABLE,
        "investments_live_table": INVESTMENTS_LIVE_TABLE,
        "capital_outturn_name_lookup": CAPITAL_OUTTURN_NAME_LOOKUP,
        "prudential_indicators": PRUDENTIAL_INDICATORS,
        "capital_outturn_cfr": CAPITAL_OUTTURN_CFR,
        "capital_outturn_borrowing": CAPITAL_OUTTURN_BORROWING,
    }
)
