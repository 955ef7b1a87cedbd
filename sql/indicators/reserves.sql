-- Reserves indicators from the council-year finance series (finance_public.sql: Revenue
-- Outturn summaries to 2017-18, the LA Analytics compilation from 2018-19), as they stood at
-- each as-of date. Each indicator uses the latest year public by then that reports the
-- figure it measures (its `primary` figure), compared with the one and two years before it:
-- the split into unallocated and earmarked reserves is only in the Revenue Outturn summaries,
-- the total of usable reserves is in both.
-- Input: as_of_dates(quarter, as_of_date), finance_public, the macro finance_indicator_rows.
-- Output: standard value columns.
WITH years AS (
    SELECT
        cur.*,
        one.unallocated AS unallocated_1y,
        two.unallocated AS unallocated_2y,
        one.earmarked AS earmarked_1y,
        two.earmarked AS earmarked_2y,
        one.usable_reserves AS usable_reserves_1y,
        one.nre AS nre_1y,
        coalesce(cur.unallocated, 0) + coalesce(cur.earmarked, 0) AS usable,
        coalesce(cur.unallocated_start, 0) + coalesce(cur.earmarked_start, 0) AS usable_start
    FROM finance_public AS cur
    LEFT JOIN finance_public AS one
        ON one.quarter = cur.quarter AND one.council_code = cur.council_code
        AND one.year_start = cur.year_start - 1
    LEFT JOIN finance_public AS two
        ON two.quarter = cur.quarter AND two.council_code = cur.council_code
        AND two.year_start = cur.year_start - 2
),
measured AS (
    SELECT
        y.quarter,
        y.council_code,
        y.year_start,
        y.period,
        y.period_end,
        y.nre >= 1000 AS spending_ok,
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
            ('unallocated_reserves_pct_nre',
             100 * y.unallocated / nullif(y.nre, 0),
             100 * y.unallocated_1y / nullif(y.nre_1y, 0),
             y.unallocated IS NOT NULL AND y.nre > 0,
             y.unallocated_origin,
             'zero base',
             y.unallocated IS NOT NULL),
            ('earmarked_reserves_pct_nre',
             100 * y.earmarked / nullif(y.nre, 0),
             100 * y.earmarked_1y / nullif(y.nre_1y, 0),
             y.earmarked IS NOT NULL AND y.nre > 0,
             y.earmarked_origin,
             'zero base',
             y.earmarked IS NOT NULL),
            ('unallocated_reserves_change_1y',
             100 * (y.unallocated - y.unallocated_1y) / nullif(y.unallocated_1y, 0),
             NULL,
             y.unallocated IS NOT NULL AND y.unallocated_1y > 0,
             y.unallocated_origin,
             'zero base',
             y.unallocated IS NOT NULL),
            ('unallocated_reserves_change_2y',
             100 * (y.unallocated - y.unallocated_2y) / nullif(y.unallocated_2y, 0),
             NULL,
             y.unallocated IS NOT NULL AND y.unallocated_2y > 0,
             y.unallocated_origin,
             'zero base',
             y.unallocated IS NOT NULL),
            ('earmarked_reserves_change_1y',
             100 * (y.earmarked - y.earmarked_1y) / nullif(y.earmarked_1y, 0),
             NULL,
             y.earmarked IS NOT NULL AND y.earmarked_1y > 0,
             y.earmarked_origin,
             'zero base',
             y.earmarked IS NOT NULL),
            ('earmarked_reserves_change_2y',
             100 * (y.earmarked - y.earmarked_2y) / nullif(y.earmarked_2y, 0),
             NULL,
             y.earmarked IS NOT NULL AND y.earmarked_2y > 0,
             y.earmarked_origin,
             'zero base',
             y.earmarked IS NOT NULL),
            -- Not drawing on usable reserves at all counts as 99 years: no risk from this measure.
            ('years_of_reserves_left',
             CASE
                 WHEN y.usable_start - y.usable > 0
                     THEN least(99, y.usable / (y.usable_start - y.usable))
                 ELSE 99
             END,
             NULL,
             y.unallocated IS NOT NULL AND y.earmarked IS NOT NULL
                 AND y.unallocated_start IS NOT NULL AND y.earmarked_start IS NOT NULL,
             y.unallocated_origin,
             'zero base',
             y.unallocated IS NOT NULL AND y.earmarked IS NOT NULL),
            -- Total usable reserves (all four kinds; the only reserves figure after 2017-18).
            -- A council spending under £1m net (a commercial district whose income nets its
            -- spending off) has no meaningful ratio to its spending: not computable.
            ('usable_reserves_pct_nre',
             100 * y.usable_reserves / nullif(y.nre, 0),
             100 * y.usable_reserves_1y / nullif(y.nre_1y, 0),
             y.usable_reserves IS NOT NULL AND y.nre >= 1000,
             y.usable_reserves_origin,
             'spending',
             y.usable_reserves IS NOT NULL AND y.nre IS NOT NULL),
            -- Change in points of this year's spending, not a percentage change of a balance
            -- that can be near zero.
            ('usable_reserves_change_1y_pts_nre',
             100 * (y.usable_reserves - y.usable_reserves_1y) / nullif(y.nre, 0),
             NULL,
             y.usable_reserves IS NOT NULL AND y.usable_reserves_1y IS NOT NULL AND y.nre >= 1000,
             y.usable_reserves_origin,
             'spending',
             y.usable_reserves IS NOT NULL AND y.nre IS NOT NULL)
    ) AS m(indicator_id, value, previous_value, needs, origin, base, reported)
)
SELECT * FROM finance_indicator_rows(measured);
