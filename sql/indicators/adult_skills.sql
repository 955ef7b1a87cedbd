-- Adult skills (DfE via ONS Explore local statistics), rates per 100,000 people: context shown
-- beside the evidence, never scored. Only rows published under the council's own code are used
-- (a former council's rows, mapped to its successor, describe part of its area).
-- Latest academic year public at each as-of date (by its estimated date, and at the latest by
-- the edition's own date), with the year before.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
WITH measured AS (
    SELECT
        CASE s.indicator
            WHEN 'Further education and skills participation'
                THEN 'further_education_participation'
            WHEN 'Further education and skills learner achievements'
                THEN 'further_education_achievements'
            WHEN 'Apprenticeship starts (England)' THEN 'apprenticeship_starts'
            WHEN 'Apprenticeship achievements (England)' THEN 'apprenticeship_achievements'
        END AS indicator_id,
        s.council_code,
        s.academic_year,
        year(s.period_end) AS year_end,
        s.period_end,
        least(s.published_date, coalesce(s.edition_published, s.published_date))
            AS published_date,
        s.observation AS value,
        s.source_path,
        s.source_row_number
    FROM validated.adult_skills AS s
    WHERE s.source_council_code = s.council_code
),
public_values AS (
    SELECT
        q.quarter,
        m.*,
        max(m.year_end) OVER (PARTITION BY q.quarter, m.indicator_id, m.council_code)
            AS latest_year
    FROM as_of_dates AS q
    JOIN measured AS m ON m.published_date <= q.as_of_date
    WHERE m.indicator_id IS NOT NULL
)
SELECT
    cur.quarter,
    cur.council_code,
    cur.indicator_id,
    cur.academic_year AS period,
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
    AND prev.council_code = cur.council_code AND prev.year_end = cur.year_end - 1
WHERE cur.year_end = cur.latest_year;
