-- Best Value Notices at each as-of date: each notice (issued, reissued or published; rows that
-- share a `notice_ref` are one notice, counted from its earliest placed date) adds a strength
-- that halves every `half_life_years`. Removals, expiries and inspections are in the register
-- but add nothing here (an inspection is a statutory intervention: a known case). Rows whose
-- date is unplaceable are never used.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue. Output: standard columns.
WITH notices AS (
    SELECT
        n.*,
        coalesce(n.notice_ref, n.source_path || '#' || n.source_row_number) AS notice_key
    FROM validated.best_value_notices AS n
    WHERE n.event_type IN ('notice_issued', 'notice_reissued', 'notice_published')
        AND n.event_date IS NOT NULL AND n.date_precision <> 'unplaceable'
),
public_notices AS (
    SELECT q.quarter, q.as_of_date, n.*
    FROM as_of_dates AS q
    JOIN notices AS n ON n.event_date <= q.as_of_date
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, n.council_code, n.notice_key
        ORDER BY n.event_date, n.source_path, n.source_row_number
    ) = 1
)
SELECT
    p.quarter,
    p.council_code,
    'best_value_notice' AS indicator_id,
    string_agg(strftime(p.event_date, '%Y-%m-%d'), ', ' ORDER BY p.event_date) AS period,
    max(p.event_date) AS period_end,
    max(p.event_date) AS published_date,
    sum(exp(-ln(2) * date_diff('day', p.event_date, p.as_of_date) / 365.25
        / c.half_life_years)) AS value,
    'reported' AS value_state,
    NULL::DOUBLE AS previous_value,
    arg_max(p.source_path, p.event_date) AS source_path,
    arg_max(p.source_row_number, p.event_date) AS source_row_number
FROM public_notices AS p
JOIN indicator_catalogue AS c ON c.indicator_id = 'best_value_notice'
GROUP BY p.quarter, p.council_code;
