-- Debt indicators from the Borrowing and Investment live tables, as they stood at each as-of
-- date: the latest date whose table was public by then, compared with the same date one and
-- three years before, and with the latest net revenue expenditure public by then.
-- Input: as_of_dates(quarter, as_of_date). Output: the standard indicator value columns.
WITH public_borrowing AS (
    SELECT
        q.quarter,
        b.council_code,
        b.period_end,
        b.published_date,
        b.gross_borrowing,
        b.short_term_borrowing,
        b.borrowing_from_other_councils,
        b.source_path,
        b.source_row_number,
        b.sheet_name,
        max(b.period_end) OVER (PARTITION BY q.quarter, b.council_code) AS latest_date
    FROM as_of_dates AS q
    JOIN validated.borrowing_live_table AS b ON b.published_date <= q.as_of_date
),
public_investments AS (
    SELECT q.quarter, i.council_code, i.period_end, i.total_investments
    FROM as_of_dates AS q
    JOIN validated.investments_live_table AS i ON i.published_date <= q.as_of_date
),
-- Net revenue expenditure: the latest year public at the as-of date.
public_nre AS (
    SELECT quarter, council_code, nre, nre_period
    FROM (
        SELECT
            q.quarter,
            r.council_code,
            r.net_revenue_expenditure AS nre,
            r.period AS nre_period,
            row_number() OVER (
                PARTITION BY q.quarter, r.council_code ORDER BY r.year_start DESC
            ) AS recency
        FROM as_of_dates AS q
        JOIN validated.revenue_outturn AS r ON r.published_date <= q.as_of_date
        WHERE r.net_revenue_expenditure IS NOT NULL
    )
    WHERE recency = 1
),
latest AS (
    SELECT
        cur.*,
        one.gross_borrowing AS gross_borrowing_1y,
        three.gross_borrowing AS gross_borrowing_3y,
        inv.total_investments,
        n.nre,
        n.nre_period
    FROM public_borrowing AS cur
    LEFT JOIN public_borrowing AS one
        ON one.quarter = cur.quarter AND one.council_code = cur.council_code
        AND one.period_end = last_day(cur.period_end - INTERVAL 1 YEAR)
    LEFT JOIN public_borrowing AS three
        ON three.quarter = cur.quarter AND three.council_code = cur.council_code
        AND three.period_end = last_day(cur.period_end - INTERVAL 3 YEAR)
    LEFT JOIN public_investments AS inv
        ON inv.quarter = cur.quarter AND inv.council_code = cur.council_code
        AND inv.period_end = cur.period_end
    LEFT JOIN public_nre AS n ON n.quarter = cur.quarter AND n.council_code = cur.council_code
    WHERE cur.period_end = cur.latest_date
),
measured AS (
    SELECT l.*, m.indicator_id, m.value, m.needs, m.period
    FROM latest AS l,
    LATERAL (
        VALUES
            ('short_term_borrowing_share',
             100 * l.short_term_borrowing / nullif(l.gross_borrowing, 0),
             l.short_term_borrowing IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d')),
            ('borrowing_from_other_councils_share',
             100 * l.borrowing_from_other_councils / nullif(l.gross_borrowing, 0),
             l.borrowing_from_other_councils IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d')),
            ('borrowing_growth_1y_pct_nre',
             100 * (l.gross_borrowing - l.gross_borrowing_1y) / nullif(l.nre, 0),
             l.gross_borrowing IS NOT NULL AND l.gross_borrowing_1y IS NOT NULL AND l.nre > 0,
             'year to ' || strftime(l.period_end, '%Y-%m-%d') || ', NRE ' || l.nre_period),
            ('borrowing_growth_3y_pct_nre',
             100 * (l.gross_borrowing - l.gross_borrowing_3y) / nullif(l.nre, 0),
             l.gross_borrowing IS NOT NULL AND l.gross_borrowing_3y IS NOT NULL AND l.nre > 0,
             'three years to ' || strftime(l.period_end, '%Y-%m-%d') || ', NRE ' || l.nre_period),
            ('investments_to_borrowing',
             100 * l.total_investments / nullif(l.gross_borrowing, 0),
             l.total_investments IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d'))
    ) AS m(indicator_id, value, needs, period)
)
SELECT
    quarter,
    council_code,
    indicator_id,
    period,
    period_end,
    published_date,
    CASE WHEN needs THEN value END AS value,
    CASE WHEN needs THEN 'reported' ELSE 'not computable (missing or zero base)' END
        AS value_state,
    NULL::DOUBLE AS previous_value,
    source_path,
    source_row_number
FROM measured;
