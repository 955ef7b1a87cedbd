-- Debt indicators from the council-year finance series (finance_public.sql), as they stood at
-- each as-of date. Each indicator uses the latest year public by then that reports the figure
-- it measures (its primary figure). Ratios are to net revenue expenditure (NRE) or core
-- spending power of the same year; growth is measured in points of this year's NRE, never as
-- a percentage change of a balance that can be near zero. A council whose NRE is negative,
-- nil or under £1m (a commercial district whose income nets off its spending) has no
-- meaningful ratio: not computable, never a huge number.
-- Input: as_of_dates(quarter, as_of_date), finance_public, the macro finance_indicator_rows.
-- Output: standard value columns.
WITH years AS (
    SELECT
        cur.*,
        one.gross_borrowing AS gross_borrowing_1y,
        three.gross_borrowing AS gross_borrowing_3y,
        one.nre AS nre_1y,
        one.csp AS csp_1y,
        one.cfr AS cfr_1y,
        one.mrp AS mrp_1y,
        one.interest AS interest_1y,
        one.investments AS investments_1y,
        one.short_term_loans AS short_term_loans_1y,
        cur.nre >= 1000 AS spending_ok
    FROM finance_public AS cur
    LEFT JOIN finance_public AS one
        ON one.quarter = cur.quarter AND one.council_code = cur.council_code
        AND one.year_start = cur.year_start - 1
    LEFT JOIN finance_public AS three
        ON three.quarter = cur.quarter AND three.council_code = cur.council_code
        AND three.year_start = cur.year_start - 3
),
measured AS (
    SELECT
        y.quarter,
        y.council_code,
        y.year_start,
        y.period,
        y.period_end,
        y.spending_ok,
        m.indicator_id,
        m.value,
        m.previous_value,
        m.needs,
        m.origin,
        m.base,
        m.reported
    FROM years AS y,
    LATERAL (
        VALUES
            ('external_borrowing_pct_nre',
             100 * y.gross_borrowing / nullif(y.nre, 0),
             100 * y.gross_borrowing_1y / nullif(y.nre_1y, 0),
             y.gross_borrowing IS NOT NULL AND coalesce(y.spending_ok, false),
             y.gross_borrowing_origin,
             'spending',
             y.gross_borrowing IS NOT NULL AND y.nre IS NOT NULL),
            -- The Data Explorer's own debt measure. Spending power here leaves out some
            -- social care grants, so upper-tier ratios are somewhat high (METHOD.md).
            ('external_borrowing_pct_csp',
             100 * y.gross_borrowing / nullif(y.csp, 0),
             100 * y.gross_borrowing_1y / nullif(y.csp_1y, 0),
             y.gross_borrowing IS NOT NULL AND y.csp > 0,
             CASE WHEN y.csp_origin IS NOT NULL THEN y.gross_borrowing_origin END,
             'spending power',
             y.gross_borrowing IS NOT NULL AND y.csp IS NOT NULL),
            ('cfr_pct_nre',
             100 * y.cfr / nullif(y.nre, 0),
             100 * y.cfr_1y / nullif(y.nre_1y, 0),
             y.cfr IS NOT NULL AND coalesce(y.spending_ok, false),
             y.cfr_origin,
             'spending',
             y.cfr IS NOT NULL AND y.nre IS NOT NULL),
            ('borrowing_growth_1y_pts_nre',
             100 * (y.gross_borrowing - y.gross_borrowing_1y) / nullif(y.nre, 0),
             NULL,
             y.gross_borrowing IS NOT NULL AND y.gross_borrowing_1y IS NOT NULL
                 AND coalesce(y.spending_ok, false),
             y.gross_borrowing_origin,
             'spending',
             y.gross_borrowing IS NOT NULL AND y.nre IS NOT NULL),
            ('borrowing_growth_3y_pts_nre',
             100 * (y.gross_borrowing - y.gross_borrowing_3y) / nullif(y.nre, 0),
             NULL,
             y.gross_borrowing IS NOT NULL AND y.gross_borrowing_3y IS NOT NULL
                 AND coalesce(y.spending_ok, false),
             y.gross_borrowing_origin,
             'spending',
             y.gross_borrowing IS NOT NULL AND y.nre IS NOT NULL),
            ('debt_servicing_pct_nre',
             100 * (y.mrp + y.interest) / nullif(y.nre, 0),
             100 * (y.mrp_1y + y.interest_1y) / nullif(y.nre_1y, 0),
             y.mrp IS NOT NULL AND y.interest IS NOT NULL AND coalesce(y.spending_ok, false),
             CASE WHEN y.interest_origin IS NOT NULL THEN y.mrp_origin END,
             'spending',
             y.mrp IS NOT NULL AND y.interest IS NOT NULL AND y.nre IS NOT NULL),
            -- Context only: treasury investments per £ of borrowing (liquidity, or borrowing
            -- in advance of need: the direction of risk depends on why).
            ('investments_to_borrowing',
             y.investments / nullif(y.gross_borrowing, 0),
             y.investments_1y / nullif(y.gross_borrowing_1y, 0),
             y.investments IS NOT NULL AND y.gross_borrowing > 0,
             CASE WHEN y.gross_borrowing_origin IS NOT NULL THEN y.investments_origin END,
             'zero base',
             y.investments IS NOT NULL AND y.gross_borrowing IS NOT NULL),
            -- Refinancing risk: the share of borrowing due within a year. Only where borrowing
            -- is at least 10% of NRE: the mix of a token loan says nothing.
            ('short_term_borrowing_share',
             100 * y.short_term_loans / nullif(y.gross_borrowing, 0),
             100 * y.short_term_loans_1y / nullif(y.gross_borrowing_1y, 0),
             y.short_term_loans IS NOT NULL AND y.gross_borrowing > 0
                 AND coalesce(y.spending_ok, false) AND y.gross_borrowing >= 0.1 * y.nre,
             CASE WHEN y.gross_borrowing_origin IS NOT NULL THEN y.short_term_loans_origin END,
             'little borrowing',
             y.short_term_loans IS NOT NULL AND y.gross_borrowing IS NOT NULL AND y.nre IS NOT NULL)
    ) AS m(indicator_id, value, previous_value, needs, origin, base, reported)
)
SELECT * FROM finance_indicator_rows(measured);
