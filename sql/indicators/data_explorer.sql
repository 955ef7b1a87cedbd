-- Data Explorer service metrics named in the catalogue (by metric_id), latest year public at
-- each as-of date, with the year before for the trend.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue, the macro latest_public_year.
-- Output: standard columns.
WITH measured AS (
    SELECT
        c.indicator_id,
        m.council_code,
        m.financial_year AS period,
        m.year_start AS year_number,
        m.period_end,
        m.published_date,
        m.value,
        m.value_state,
        m.source_path,
        m.source_row_number
    FROM validated.data_explorer_metrics AS m
    JOIN indicator_catalogue AS c ON c.metric_id = m.metric_id
    WHERE c.metric_id IS NOT NULL
)
SELECT * FROM latest_public_year(measured);
