-- One hash per quarter of everything its watchlist could see: the councils in being, every
-- indicator value public by the as-of date, and the known-case events dated by then. A quarter
-- rebuilt after newer data was published keeps its fingerprint (it cannot see that data).
-- Inputs: as_of_dates; indicators.indicator_values, validated.council_register,
-- validated.section114_notices, validated.interventions, validated.exceptional_financial_support,
-- validated.best_value_notices.
WITH evidence AS (
    SELECT v.quarter, concat_ws('|', 'value', v.council_code, v.indicator_id, v.period,
        v.period_end, v.published_date, v.value, v.value_state, v.previous_value,
        v.source_path, v.source_row_number) AS line
    FROM indicators.indicator_values AS v
    WHERE v.quarter IN (SELECT quarter FROM as_of_dates)
    UNION ALL
    SELECT q.quarter, concat_ws('|', 'council', r.gss_code, r.council_name, r.council_type,
        r.region, r.start_date, r.end_date)
    FROM as_of_dates AS q
    JOIN validated.council_register AS r
        ON (r.start_date IS NULL OR r.start_date <= q.as_of_date)
        AND (r.end_date IS NULL OR r.end_date >= q.as_of_date)
    UNION ALL
    SELECT q.quarter, concat_ws('|', 's114', n.council_code, n.notice_date)
    FROM as_of_dates AS q
    JOIN validated.section114_notices AS n ON n.notice_date <= q.as_of_date
    UNION ALL
    SELECT q.quarter, concat_ws('|', 'intervention', i.council_code, i.intervention, i.start_date,
        i.end_date)
    FROM as_of_dates AS q
    JOIN validated.interventions AS i ON i.start_date <= q.as_of_date
    UNION ALL
    SELECT q.quarter, concat_ws('|', 'support', e.council_code, e.decision_year, e.support_type,
        e.decision_date)
    FROM as_of_dates AS q
    JOIN validated.exceptional_financial_support AS e ON e.decision_date <= q.as_of_date
    UNION ALL
    SELECT q.quarter, concat_ws('|', 'best value', b.council_code, b.event_type, b.event_date)
    FROM as_of_dates AS q
    JOIN validated.best_value_notices AS b ON b.event_date <= q.as_of_date
)
SELECT quarter, sha256(string_agg(line, chr(10) ORDER BY line)) AS evidence_sha256
FROM evidence
GROUP BY quarter;
