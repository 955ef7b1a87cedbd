-- Road condition (DfT RDC0120) for highway authorities: the percentage of A roads (with
-- motorways) and of B and C roads where maintenance should have been considered, latest year
-- public at each as-of date, with the year before. DfT's shorthand ([x] not reported,
-- [y] unrepresentative, [z] not applicable) is the value's state, never a number.
-- A year became public by its estimated date, and at the latest by the edition's own date.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
WITH measured AS (
    SELECT
        'road_condition_a_roads_poor' AS indicator_id, *
    FROM validated.road_condition_a_roads
    UNION ALL BY NAME
    SELECT
        'road_condition_b_c_roads_poor' AS indicator_id, *
    FROM validated.road_condition_b_c_roads
),
public_values AS (
    SELECT
        q.quarter,
        m.indicator_id,
        m.council_code,
        m.financial_year,
        m.year_start,
        m.period_end,
        least(m.published_date, coalesce(m.edition_published, m.published_date))
            AS published_date,
        m.percent_poor AS value,
        m.value_state,
        m.source_path,
        m.source_row_number,
        max(m.year_start) OVER (PARTITION BY q.quarter, m.indicator_id, m.council_code)
            AS latest_year
    FROM as_of_dates AS q
    JOIN measured AS m
        ON least(m.published_date, coalesce(m.edition_published, m.published_date))
            <= q.as_of_date
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
