-- Reserves indicators from the Revenue Outturn summary, as they stood at each as-of date:
-- the latest financial year public by then, compared with the one and two years before it.
-- Input: as_of_dates(quarter, as_of_date). Output: the standard indicator value columns.
WITH public_years AS (
    SELECT
        q.quarter,
        r.council_code,
        r.period,
        r.year_start,
        r.period_end,
        r.published_date,
        r.net_revenue_expenditure AS nre,
        r.unallocated_reserves_start AS unallocated_start,
        r.unallocated_reserves_end AS unallocated,
        r.earmarked_reserves_start AS earmarked_start,
        r.earmarked_reserves_end AS earmarked,
        r.source_path,
        r.source_row_number,
        max(r.year_start) OVER (PARTITION BY q.quarter, r.council_code) AS latest_year
    FROM as_of_dates AS q
    JOIN validated.revenue_outturn AS r ON r.published_date <= q.as_of_date
),
latest AS (
    SELECT
        cur.*,
        one.unallocated AS unallocated_1y,
        two.unallocated AS unallocated_2y,
        one.earmarked AS earmarked_1y,
        two.earmarked AS earmarked_2y,
        one.nre AS nre_1y,
        coalesce(cur.unallocated, 0) + coalesce(cur.earmarked, 0) AS usable,
        coalesce(cur.unallocated_start, 0) + coalesce(cur.earmarked_start, 0) AS usable_start
    FROM public_years AS cur
    LEFT JOIN public_years AS one
        ON one.quarter = cur.quarter AND one.council_code = cur.council_code
        AND one.year_start = cur.year_start - 1
    LEFT JOIN public_years AS two
        ON two.quarter = cur.quarter AND two.council_code = cur.council_code
        AND two.year_start = cur.year_start - 2
    WHERE cur.year_start = cur.latest_year
),
measured AS (
    SELECT
        l.*,
        m.indicator_id,
        m.value,
        m.previous_value,
        m.needs
    FROM latest AS l,
    LATERAL (
        VALUES
            ('unallocated_reserves_pct_nre',
             100 * l.unallocated / nullif(l.nre, 0),
             100 * l.unallocated_1y / nullif(l.nre_1y, 0),
             l.unallocated IS NOT NULL AND l.nre > 0),
            ('earmarked_reserves_pct_nre',
             100 * l.earmarked / nullif(l.nre, 0),
             100 * l.earmarked_1y / nullif(l.nre_1y, 0),
             l.earmarked IS NOT NULL AND l.nre > 0),
            ('unallocated_reserves_change_1y',
             100 * (l.unallocated - l.unallocated_1y) / nullif(l.unallocated_1y, 0),
             NULL,
             l.unallocated IS NOT NULL AND l.unallocated_1y > 0),
            ('unallocated_reserves_change_2y',
             100 * (l.unallocated - l.unallocated_2y) / nullif(l.unallocated_2y, 0),
             NULL,
             l.unallocated IS NOT NULL AND l.unallocated_2y > 0),
            ('earmarked_reserves_change_1y',
             100 * (l.earmarked - l.earmarked_1y) / nullif(l.earmarked_1y, 0),
             NULL,
             l.earmarked IS NOT NULL AND l.earmarked_1y > 0),
            ('earmarked_reserves_change_2y',
             100 * (l.earmarked - l.earmarked_2y) / nullif(l.earmarked_2y, 0),
             NULL,
             l.earmarked IS NOT NULL AND l.earmarked_2y > 0),
            -- Not drawing on usable reserves at all counts as 99 years: no risk from this measure.
            ('years_of_reserves_left',
             CASE
                 WHEN l.usable_start - l.usable > 0
                     THEN least(99, l.usable / (l.usable_start - l.usable))
                 ELSE 99
             END,
             NULL,
             l.unallocated IS NOT NULL AND l.earmarked IS NOT NULL
                 AND l.unallocated_start IS NOT NULL AND l.earmarked_start IS NOT NULL)
    ) AS m(indicator_id, value, previous_value, needs)
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
    previous_value,
    source_path,
    source_row_number
FROM measured;
