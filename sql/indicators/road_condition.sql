-- Road condition (DfT RDC0120) for highway authorities: the percentage of A roads (with
-- motorways) and of B and C roads where maintenance should have been considered, latest year
-- public at each as-of date, with the year before. DfT's shorthand ([x] not reported,
-- [y] unrepresentative, [z] not applicable) is the value's state, never a number.
-- A year became public by its estimated date, and at the latest by the edition's own date.
-- Input: as_of_dates(quarter, as_of_date), the macro latest_public_year. Output: standard
-- columns.
WITH both_classes AS (
    SELECT 'road_condition_a_roads_poor' AS indicator_id, *
    FROM validated.road_condition_a_roads
    UNION ALL BY NAME
    SELECT 'road_condition_b_c_roads_poor' AS indicator_id, *
    FROM validated.road_condition_b_c_roads
),
measured AS (
    SELECT
        r.indicator_id,
        r.council_code,
        r.financial_year AS period,
        r.year_start AS year_number,
        r.period_end,
        least(r.published_date, coalesce(r.edition_published, r.published_date))
            AS published_date,
        r.percent_poor AS value,
        r.value_state,
        r.source_path,
        r.source_row_number
    FROM both_classes AS r
)
SELECT * FROM latest_public_year(measured);
