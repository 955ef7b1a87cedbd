-- The table macro latest_public_year(measured): for each as-of date, each council's latest
-- year of each indicator public by then (by its published_date), with the year before for the
-- trend: the tail every yearly indicator query shares.
-- `measured` names a relation (a table or the caller's CTE) with the columns indicator_id,
-- council_code, period (as the source labels the year), year_number (grows by one a year),
-- period_end, published_date, value, value_state, source_path, source_row_number.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
CREATE OR REPLACE TEMP MACRO latest_public_year(measured) AS TABLE
WITH public_values AS (
    SELECT
        q.quarter,
        m.*,
        max(m.year_number) OVER (PARTITION BY q.quarter, m.indicator_id, m.council_code)
            AS latest_year
    FROM as_of_dates AS q
    JOIN query_table(measured) AS m ON m.published_date <= q.as_of_date
)
SELECT
    cur.quarter,
    cur.council_code,
    cur.indicator_id,
    cur.period,
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
    AND prev.council_code = cur.council_code AND prev.year_number = cur.year_number - 1
WHERE cur.year_number = cur.latest_year;
