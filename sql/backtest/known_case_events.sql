-- The default events: section 114 notices, statutory interventions with a placed start date,
-- exceptional financial support (from its decision date), and Best Value Notices and
-- inspections placed in time. A register row whose date is unplaceable is never an event.
SELECT council_code, notice_date AS event_date, 'section 114 notice' AS event_type
FROM validated.section114_notices
UNION ALL
SELECT council_code, start_date AS event_date, 'statutory intervention' AS event_type
FROM validated.interventions
WHERE start_date IS NOT NULL
UNION ALL
SELECT council_code, decision_date AS event_date, 'exceptional financial support' AS event_type
FROM validated.exceptional_financial_support
UNION ALL
SELECT
    council_code,
    event_date,
    CASE WHEN event_type = 'best_value_inspection' THEN 'best value inspection'
        ELSE 'best value notice' END AS event_type
FROM validated.best_value_notices
WHERE event_type IN ('notice_issued', 'notice_reissued', 'notice_published', 'best_value_inspection')
    AND event_date IS NOT NULL AND date_precision <> 'unplaceable';
