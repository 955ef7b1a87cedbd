-- Children's services (Ofsted ILACS and the earlier single inspection framework): the latest
-- judgement on each council published by the as-of date. When its overall effectiveness is
-- inadequate the value is the event's strength, halving every `half_life_years` from the
-- report's publication; any other grade is 0 (scored, no flag), so a re-inspection that lifts
-- the grade ends the flag. A report with no overall grade (Ofsted gives none from 2026; older
-- reports the scrape could not read) leaves its state in place of a value.
--
-- Judgements come from the scraped ILACS reports, each citing its report (`source_url`), and
-- from Ofsted's management information (snapshots at 31 March 2019-2023), which gives the grade
-- of reports the scrape could not read (mostly before 2018). A judgement became public with its
-- report, so its report's publication date places it in time. On the same date a graded
-- report wins, then the management information, then an ungraded report.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue. Output: standard columns and
-- source_url.
WITH management_information AS (
    SELECT
        council_code,
        report_published_date AS published_on,
        ['outstanding', 'good', 'requires improvement', 'inadequate'][overall_effectiveness]
            AS grade,
        source_path,
        source_row_number
    FROM validated.ofsted_children_services_mi
    WHERE overall_effectiveness IS NOT NULL AND report_published_date IS NOT NULL
    -- A judgement stands in every snapshot until the next inspection: its first row is cited.
    QUALIFY row_number() OVER (
        PARTITION BY council_code, report_published_date ORDER BY as_at_date, source_row_number
    ) = 1
),
judgements AS (
    SELECT
        council_code,
        published_on,
        overall_effectiveness_grade AS grade,
        overall_state,
        inspection_link AS source_url,
        source_path,
        source_row_number,
        CASE WHEN overall_state = 'graded' THEN 0 ELSE 2 END AS preference
    FROM validated.ofsted_ilacs
    UNION ALL
    SELECT
        council_code,
        published_on,
        grade,
        'graded' AS overall_state,
        NULL AS source_url,
        source_path,
        source_row_number,
        1 AS preference
    FROM management_information
),
latest AS (
    SELECT q.quarter, q.as_of_date, j.*
    FROM as_of_dates AS q
    JOIN judgements AS j ON j.published_on <= q.as_of_date
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, j.council_code
        ORDER BY j.published_on DESC, j.preference, j.source_path, j.source_row_number
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
        WHEN l.grade = 'inadequate'
            THEN exp(-ln(2) * date_diff('day', l.published_on, l.as_of_date) / 365.25
                / c.half_life_years)
        ELSE 0.0
    END AS value,
    CASE WHEN l.overall_state = 'graded' THEN 'reported' ELSE l.overall_state END AS value_state,
    NULL::DOUBLE AS previous_value,
    l.source_path,
    l.source_row_number,
    l.source_url
FROM latest AS l
JOIN indicator_catalogue AS c ON c.indicator_id = 'children_services_inadequate';
