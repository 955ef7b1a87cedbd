-- The table macro finance_indicator_rows(measured): the tail the reserves and debt queries
-- share. For each as-of date, council and indicator, the latest year public by then that
-- reports the figure the indicator measures (its `origin`), and the value's state: reported, or
-- why not.
-- `measured` names a relation with the columns quarter, council_code, indicator_id, year_start,
-- period, period_end, value, previous_value, needs (the value can be computed), origin (a
-- struct of the primary figure's published_date, source_path and source_row_number; NULL when
-- the year does not report it), base ('spending', 'little borrowing' or 'zero base': what a
-- ratio divides by), reported (the figures are there) and spending_ok (NRE at least £1m).
-- Output: standard value columns.
CREATE OR REPLACE TEMP MACRO finance_indicator_rows(measured) AS TABLE
WITH chosen AS (
    SELECT *
    FROM query_table(measured)
    QUALIFY row_number() OVER (
        PARTITION BY quarter, council_code, indicator_id
        ORDER BY (origin IS NOT NULL) DESC, year_start DESC
    ) = 1
)
SELECT
    quarter,
    council_code,
    indicator_id,
    period,
    period_end,
    origin.published_date AS published_date,
    CASE WHEN needs THEN value END AS value,
    CASE
        WHEN needs THEN 'reported'
        WHEN origin IS NULL OR NOT reported THEN 'not reported'
        WHEN base IN ('spending', 'little borrowing') AND NOT coalesce(spending_ok, false)
            THEN 'not computable (spending not positive or under £1m)'
        WHEN base = 'little borrowing' THEN 'not computable (borrowing under 10% of spending)'
        ELSE 'not computable (missing or zero base)'
    END AS value_state,
    previous_value,
    origin.source_path AS source_path,
    origin.source_row_number AS source_row_number
FROM chosen;
