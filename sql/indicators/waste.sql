-- Household waste (DEFRA Table 3) for collection authorities: the household recycling rate
-- (as a percentage) and residual household waste per household (kg), latest year public at each
-- as-of date, with the year before for the trend. A county's figures (authority type Disposal)
-- describe the waste its districts collect and are not scored: the districts are.
-- A year became public by its estimated date, and at the latest by the edition's own date.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
WITH measured AS (
    SELECT
        w.council_code,
        w.financial_year,
        w.year_start,
        w.period_end,
        least(w.published_date, coalesce(w.edition_published, w.published_date))
            AS published_date,
        m.indicator_id,
        m.value,
        w.source_path,
        w.source_row_number
    FROM validated.waste_indicators AS w,
    LATERAL (
        VALUES
            ('household_recycling_rate', 100.0 * w.household_recycling_rate),
            ('residual_household_waste_per_household', w.residual_household_waste_per_household)
    ) AS m(indicator_id, value)
    WHERE w.authority_type IN ('Collection', 'Unitary')
),
public_values AS (
    SELECT
        q.quarter,
        m.*,
        max(m.year_start) OVER (PARTITION BY q.quarter, m.indicator_id, m.council_code)
            AS latest_year
    FROM as_of_dates AS q
    JOIN measured AS m ON m.published_date <= q.as_of_date
)
SELECT
    cur.quarter,
    cur.council_code,
    cur.indicator_id,
    cur.financial_year AS period,
    cur.period_end,
    cur.published_date,
    cur.value,
    CASE WHEN cur.value IS NULL THEN 'not reported' ELSE 'reported' END AS value_state,
    prev.value AS previous_value,
    cur.source_path,
    cur.source_row_number
FROM public_values AS cur
LEFT JOIN public_values AS prev
    ON prev.quarter = cur.quarter AND prev.indicator_id = cur.indicator_id
    AND prev.council_code = cur.council_code AND prev.year_start = cur.year_start - 1
WHERE cur.year_start = cur.latest_year;
