-- Children's services (Ofsted ILACS): the latest report on each council published by the as-of
-- date. When its overall effectiveness is inadequate the value is the event's strength, halving
-- every `half_life_years` from the report's publication; any other grade is 0 (scored, no
-- flag), so a re-inspection that lifts the grade ends the flag. A report with no overall grade
-- (Ofsted gives none from 2026; older reports the scrape could not read) leaves its state in
-- place of a value. Each row cites the report itself (`source_url`).
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue. Output: standard columns and
-- source_url.
WITH latest AS (
    SELECT q.quarter, q.as_of_date, i.*
    FROM as_of_dates AS q
    JOIN validated.ofsted_ilacs AS i ON i.published_on <= q.as_of_date
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, i.council_code
        ORDER BY i.published_on DESC, i.source_row_number
    ) = 1
)
SELECT
    l.quarter,
    l.council_code,
    c.indicator_id,
    strftime(l.published_on, '%Y-%m-%d') AS period,
    l.published_on AS period_end,
    l.published_on AS published_date,
    CASE
        WHEN l.overall_state <> 'graded' THEN NULL
        WHEN l.overall_effectiveness_grade = 'inadequate'
            THEN exp(-ln(2) * date_diff('day', l.published_on, l.as_of_date) / 365.25
                / c.half_life_years)
        ELSE 0.0
    END AS value,
    CASE WHEN l.overall_state = 'graded' THEN 'reported' ELSE l.overall_state END AS value_state,
    NULL::DOUBLE AS previous_value,
    l.source_path,
    l.source_row_number,
    l.inspection_link AS source_url
FROM latest AS l
JOIN indicator_catalogue AS c ON c.indicator_id = 'children_services_inadequate';
