-- Adult skills (DfE via ONS Explore local statistics), rates per 100,000 people: context shown
-- beside the evidence, never scored. Only rows published under the council's own code are used
-- (a former council's rows, mapped to its successor, describe part of its area).
-- Latest academic year public at each as-of date (by its estimated date, and at the latest by
-- the edition's own date), with the year before.
-- Input: as_of_dates(quarter, as_of_date), the macro latest_public_year. Output: standard
-- columns.
WITH named AS (
    SELECT
        CASE s.indicator
            WHEN 'Further education and skills participation'
                THEN 'further_education_participation'
            WHEN 'Further education and skills learner achievements'
                THEN 'further_education_achievements'
            WHEN 'Apprenticeship starts (England)' THEN 'apprenticeship_starts'
            WHEN 'Apprenticeship achievements (England)' THEN 'apprenticeship_achievements'
        END AS indicator_id,
        s.*
    FROM validated.adult_skills AS s
    WHERE s.source_council_code = s.council_code
),
measured AS (
    SELECT
        s.indicator_id,
        s.council_code,
        s.academic_year AS period,
        year(s.period_end) AS year_number,
        s.period_end,
        least(s.published_date, coalesce(s.edition_published, s.published_date))
            AS published_date,
        s.observation AS value,
        CASE WHEN s.observation IS NULL THEN 'not reported' ELSE 'reported' END AS value_state,
        s.source_path,
        s.source_row_number
    FROM named AS s
    WHERE s.indicator_id IS NOT NULL
)
SELECT * FROM latest_public_year(measured);
