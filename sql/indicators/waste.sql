-- Household waste (DEFRA Table 3) for collection authorities: the household recycling rate
-- (as a percentage) and residual household waste per household (kg), latest year public at each
-- as-of date, with the year before for the trend. A county's figures (authority type Disposal)
-- describe the waste its districts collect and are not scored: the districts are.
-- A year became public by its estimated date, and at the latest by the edition's own date.
-- Input: as_of_dates(quarter, as_of_date), the macro latest_public_year. Output: standard
-- columns.
WITH measured AS (
    SELECT
        m.indicator_id,
        w.council_code,
        w.financial_year AS period,
        w.year_start AS year_number,
        w.period_end,
        least(w.published_date, coalesce(w.edition_published, w.published_date))
            AS published_date,
        m.value,
        CASE WHEN m.value IS NULL THEN 'not reported' ELSE 'reported' END AS value_state,
        w.source_path,
        w.source_row_number
    FROM validated.waste_indicators AS w,
    LATERAL (
        VALUES
            ('household_recycling_rate', 100.0 * w.household_recycling_rate),
            ('residual_household_waste_per_household', w.residual_household_waste_per_household)
    ) AS m(indicator_id, value)
    WHERE w.authority_type IN ('Collection', 'Unitary')
)
SELECT * FROM latest_public_year(measured);
