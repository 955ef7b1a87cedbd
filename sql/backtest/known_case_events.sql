-- The default events: section 114 notices and interventions with a stated start date.
SELECT council_code, notice_date AS event_date, 'section 114 notice' AS event_type
FROM validated.section114_notices
UNION ALL
SELECT council_code, start_date AS event_date, 'statutory intervention' AS event_type
FROM validated.interventions
WHERE start_date IS NOT NULL;
