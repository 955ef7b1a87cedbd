-- Debt indicators from the Borrowing and Investment live tables, as they stood at each as-of
-- date. Shares use the latest date whose table was public by then (a quarter end from 2018-19).
-- Growth uses the latest 31 March public by then against 31 March one and three years before
-- (quarters are only published from 2018-19; every year has a 31 March table), in points of
-- the latest net revenue expenditure public by then.
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
        max(b.period_end) OVER (PARTITION BY q.quarter, b.council_code) AS latest_date,
        max(b.period_end) FILTER (WHERE month(b.period_end) = 3)
            OVER (PARTITION BY q.quarter, b.council_code) AS latest_march
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
march AS (
    SELECT
        cur.quarter,
        cur.council_code,
        cur.period_end AS march_end,
        cur.gross_borrowing AS march_borrowing,
        one.gross_borrowing AS march_borrowing_1y,
        three.gross_borrowing AS march_borrowing_3y,
        cur.source_path AS march_source_path,
        cur.source_row_number AS march_source_row_number,
        cur.published_date AS march_published_date
    FROM public_borrowing AS cur
    LEFT JOIN public_borrowing AS one
        ON one.quarter = cur.quarter AND one.council_code = cur.council_code
        AND one.period_end = last_day(cur.period_end - INTERVAL 1 YEAR)
    LEFT JOIN public_borrowing AS three
        ON three.quarter = cur.quarter AND three.council_code = cur.council_code
        AND three.period_end = last_day(cur.period_end - INTERVAL 3 YEAR)
    WHERE cur.period_end = cur.latest_march
),
latest AS (
    SELECT
        cur.*,
        m.march_end,
        m.march_borrowing,
        m.march_borrowing_1y,
        m.march_borrowing_3y,
        m.march_source_path,
        m.march_source_row_number,
        m.march_published_date,
        inv.total_investments,
        n.nre,
        n.nre_period
    FROM public_borrowing AS cur
    LEFT JOIN march AS m ON m.quarter = cur.quarter AND m.council_code = cur.council_code
    LEFT JOIN public_investments AS inv
        ON inv.quarter = cur.quarter AND inv.council_code = cur.council_code
        AND inv.period_end = cur.period_end
    LEFT JOIN public_nre AS n ON n.quarter = cur.quarter AND n.council_code = cur.council_code
    WHERE cur.period_end = cur.latest_date
),
measured AS (
    SELECT
        l.quarter,
        l.council_code,
        m.indicator_id,
        m.value,
        m.needs,
        m.period,
        m.on_march,
        CASE WHEN m.on_march THEN l.march_end ELSE l.period_end END AS period_end,
        CASE WHEN m.on_march THEN l.march_published_date ELSE l.published_date END
            AS published_date,
        CASE WHEN m.on_march THEN l.march_source_path ELSE l.source_path END AS source_path,
        CASE WHEN m.on_march THEN l.march_source_row_number ELSE l.source_row_number END
            AS source_row_number
    FROM latest AS l,
    LATERAL (
        VALUES
            ('short_term_borrowing_share',
             100 * l.short_term_borrowing / nullif(l.gross_borrowing, 0),
             l.short_term_borrowing IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d'), FALSE),
            ('borrowing_from_other_councils_share',
             100 * l.borrowing_from_other_councils / nullif(l.gross_borrowing, 0),
             l.borrowing_from_other_councils IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d'), FALSE),
            ('borrowing_growth_1y_pct_nre',
             100 * (l.march_borrowing - l.march_borrowing_1y) / nullif(l.nre, 0),
             l.march_borrowing IS NOT NULL AND l.march_borrowing_1y IS NOT NULL AND l.nre > 0,
             'year to ' || strftime(l.march_end, '%Y-%m-%d') || ', NRE ' || l.nre_period, TRUE),
            ('borrowing_growth_3y_pct_nre',
             100 * (l.march_borrowing - l.march_borrowing_3y) / nullif(l.nre, 0),
             l.march_borrowing IS NOT NULL AND l.march_borrowing_3y IS NOT NULL AND l.nre > 0,
             'three years to ' || strftime(l.march_end, '%Y-%m-%d') || ', NRE ' || l.nre_period,
             TRUE),
            ('investments_to_borrowing',
             100 * l.total_investments / nullif(l.gross_borrowing, 0),
             l.total_investments IS NOT NULL AND l.gross_borrowing > 0,
             'at ' || strftime(l.period_end, '%Y-%m-%d'), FALSE)
    ) AS m(indicator_id, value, needs, period, on_march)
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
