-- Capital financing requirement and gross debt at 31 March as % of the same year's net revenue
-- expenditure, from the capital outturn prudential indicators (outturn only: budgets are
-- forecasts and never used here), for the latest year with both figures public at each as-of
-- date. Input: as_of_dates(quarter, as_of_date). Output: the standard indicator value columns.
WITH outturn AS (
    SELECT
        p.council_code,
        p.financial_year,
        p.year_start,
        p.period_end,
        p.published_date,
        p.measure,
        p.value_thousands,
        p.source_path,
        p.source_row_number
    FROM validated.prudential_indicators AS p
    WHERE NOT p.is_forecast AND p.measure IN ('cfr_end', 'gross_debt_end')
        AND p.value_thousands IS NOT NULL
),
paired AS (
    SELECT
        q.quarter,
        o.council_code,
        o.measure,
        o.financial_year,
        o.year_start,
        o.period_end,
        greatest(o.published_date, r.published_date) AS published_date,
        o.value_thousands,
        r.net_revenue_expenditure AS nre,
        o.source_path,
        o.source_row_number,
        max(o.year_start) OVER (PARTITION BY q.quarter, o.council_code, o.measure) AS latest_year
    FROM as_of_dates AS q
    JOIN outturn AS o ON o.published_date <= q.as_of_date
    JOIN validated.revenue_outturn AS r
        ON r.council_code = o.council_code AND r.period = o.financial_year
        AND r.published_date <= q.as_of_date
    WHERE r.net_revenue_expenditure IS NOT NULL
)
SELECT
    quarter,
    council_code,
    CASE measure WHEN 'cfr_end' THEN 'cfr_pct_nre' ELSE 'gross_debt_pct_nre' END AS indicator_id,
    financial_year AS period,
    period_end,
    published_date,
    CASE WHEN nre > 0 THEN 100 * value_thousands / nre END AS value,
    CASE WHEN nre > 0 THEN 'reported' ELSE 'not computable (missing or zero base)' END
        AS value_state,
    NULL::DOUBLE AS previous_value,
    source_path,
    source_row_number
FROM paired
WHERE year_start = latest_year;
