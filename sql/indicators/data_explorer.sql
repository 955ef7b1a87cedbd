-- Data Explorer service metrics named in the catalogue (by metric_id), latest year public at
-- each as-of date, with the year before for the trend.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue. Output: standard columns.
WITH wanted AS (
    SELECT indicator_id, metric_id
    FROM indicator_catalogue
    WHERE metric_id IS NOT NULL
),
public_values AS (
    SELECT
        q.quarter,
        w.indicator_id,
        m.council_code,
        m.financial_year,
        m.year_start,
        m.period_end,
        m.published_date,
        m.value,
        m.value_state,
        m.source_path,
        m.source_row_number,
        max(m.year_start) OVER (PARTITION BY q.quarter, w.indicator_id, m.council_code)
            AS latest_year
    FROM as_of_dates AS q
    JOIN validated.data_explorer_metrics AS m ON m.published_date <= q.as_of_date
    JOIN wanted AS w ON w.metric_id = m.metric_id
)
SELECT
    cur.quarter,
    cur.council_code,
    cur.indicator_id,
    cur.financial_year AS period,
    cur.period_end,
    cur.published_date,
    cur.value,
    cur.value_state,
    prev.value AS previous_value,
    cur.source_path,
    cur.source_row_number
FROM public_values AS cur
LEFT JOIN public_values AS prev
    ON prev.quarter = cur.quarter AND prev.indicator_id = cur.indicator_id
    AND prev.council_code = cur.council_code AND prev.year_start = cur.year_start - 1
WHERE cur.year_start = cur.latest_year;
