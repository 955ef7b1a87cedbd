-- The watchlist: one row per council in being at each as-of date.
-- risk_score is exactly the sum of the flag contributions in scores.indicator_scores, so every
-- point is explained; baseline_score is the same sum over the reserves-only baseline
-- indicators. Known cases (already in formal trouble at the as-of date) are ranked apart.
-- Inputs: as_of_dates, indicator_catalogue, risk_bands; scores.indicator_scores,
-- validated.council_register, validated.section114_notices, validated.interventions,
-- validated.exceptional_financial_support, validated.best_value_notices.
-- Parameters: $min_coverage, $known_case_years, $top_reasons.
WITH scored AS (
    SELECT
        s.*,
        c.name AS indicator_name,
        c.family,
        c.unit,
        row_number() OVER (
            PARTITION BY s.quarter, s.council_code
            ORDER BY s.contribution DESC, s.indicator_id
        ) AS reason_rank
    FROM scores.indicator_scores AS s
    JOIN indicator_catalogue AS c ON c.indicator_id = s.indicator_id
    WHERE s.quarter IN (SELECT quarter FROM as_of_dates)
),
reasons AS (
    SELECT
        *,
        indicator_name || ': ' || printf('%.1f', value) || ' ' || unit
        || CASE
            WHEN method = 'peer'
                THEN ' (peer median ' || printf('%.1f', peer_median) || ', '
                    || printf('%.1f', robust_z) || ' MADs worse)'
            ELSE ' (threshold ' || printf('%.2f', threshold) || ')'
        END
        || ' [' || coalesce(period, '') || ']' AS reason
    FROM scored
),
per_council AS (
    SELECT
        quarter,
        council_code,
        any_value(as_of_date) AS as_of_date,
        sum(contribution) AS risk_score,
        coalesce(sum(contribution) FILTER (WHERE baseline), 0) AS baseline_score,
        count(*) FILTER (WHERE flagged) AS n_flags,
        count(*) FILTER (WHERE method IN ('peer', 'absolute')) AS n_indicators_applicable,
        count(*) FILTER (WHERE method IN ('peer', 'absolute') AND state = 'scored')
            AS n_indicators_scored,
        string_agg(reason, '; ' ORDER BY reason_rank)
            FILTER (WHERE flagged AND reason_rank <= $top_reasons) AS top_reasons,
        string_agg(DISTINCT family, ', ' ORDER BY family) FILTER (WHERE flagged)
            AS flagged_families
    FROM reasons
    GROUP BY quarter, council_code
),
known AS (
    SELECT q.quarter, n.council_code, n.notice_date AS since,
        'section 114 notice ' || strftime(n.notice_date, '%Y-%m-%d') AS reason
    FROM as_of_dates AS q
    JOIN validated.section114_notices AS n
        ON n.notice_date <= q.as_of_date
        AND n.notice_date > q.as_of_date - to_years(CAST($known_case_years AS INTEGER))
    UNION ALL
    -- A statutory intervention placed in time, from its start until its stated end (if any).
    SELECT q.quarter, i.council_code, i.start_date AS since,
        i.intervention || ' (from ' || strftime(i.start_date, '%Y-%m') || ')' AS reason
    FROM as_of_dates AS q
    JOIN validated.interventions AS i
        ON i.start_date <= q.as_of_date
        AND (i.end_date IS NULL OR i.end_date >= q.as_of_date)
    UNION ALL
    -- A council that asked for exceptional financial support told central government it was
    -- at risk: known from the decision date, for as long as after a section 114 notice.
    SELECT q.quarter, e.council_code, e.decision_date AS since,
        'exceptional financial support ' || e.decision_year || ' (' || e.support_type
        || ', from ' || strftime(e.decision_date, '%Y-%m-%d')
        || CASE WHEN e.date_precision = 'year' THEN ', end of the decision year' ELSE '' END
        || ')' AS reason
    FROM as_of_dates AS q
    JOIN validated.exceptional_financial_support AS e
        ON e.decision_date <= q.as_of_date
        AND e.decision_date > q.as_of_date - to_years(CAST($known_case_years AS INTEGER))
    UNION ALL
    -- A Best Value Notice (the department has told the council of its concern) or a Best
    -- Value inspection, placed in time: known for as long as after a section 114 notice.
    SELECT q.quarter, b.council_code, b.event_date AS since,
        replace(b.event_type, '_', ' ') || ' ' || strftime(b.event_date, '%Y-%m-%d')
        AS reason
    FROM as_of_dates AS q
    JOIN validated.best_value_notices AS b
        ON b.event_date <= q.as_of_date
        AND b.event_date > q.as_of_date - to_years(CAST($known_case_years AS INTEGER))
        AND b.event_type IN (
            'notice_issued', 'notice_reissued', 'notice_published', 'best_value_inspection'
        )
        AND b.date_precision <> 'unplaceable'
),
known_by_council AS (
    SELECT quarter, council_code, string_agg(reason, '; ' ORDER BY since) AS known_case_reason
    FROM known
    GROUP BY quarter, council_code
),
banded AS (
    SELECT
        p.*,
        r.council_name,
        r.council_type,
        r.region,
        k.known_case_reason,
        k.known_case_reason IS NOT NULL AS known_case,
        CASE WHEN p.n_indicators_applicable > 0
            THEN p.n_indicators_scored / p.n_indicators_applicable ELSE 0.0 END AS coverage
    FROM per_council AS p
    JOIN validated.council_register AS r ON r.gss_code = p.council_code
    LEFT JOIN known_by_council AS k
        ON k.quarter = p.quarter AND k.council_code = p.council_code
),
with_band AS (
    SELECT
        b.*,
        CASE
            WHEN b.n_flags = 0 AND b.coverage < $min_coverage THEN 'insufficient data'
            -- Below-the-line contributions rank councils but never band one without a flag.
            WHEN b.n_flags = 0 THEN 'no flags'
            ELSE (
                SELECT rb.band FROM risk_bands AS rb
                WHERE b.risk_score >= rb.min_score
                ORDER BY rb.min_score DESC
                LIMIT 1
            )
        END AS risk_band
    FROM banded AS b
)
SELECT
    quarter,
    as_of_date,
    council_code,
    council_name,
    council_type,
    region,
    CASE WHEN NOT known_case
        THEN rank() OVER (PARTITION BY quarter, known_case ORDER BY risk_score DESC)
    END AS rank,
    CASE WHEN known_case
        THEN rank() OVER (PARTITION BY quarter, known_case ORDER BY risk_score DESC)
    END AS known_case_rank,
    risk_score,
    baseline_score,
    risk_band,
    known_case,
    known_case_reason,
    n_flags,
    flagged_families,
    coverage,
    n_indicators_applicable,
    n_indicators_scored,
    coalesce(top_reasons, '') AS top_reasons
FROM with_band
ORDER BY quarter, known_case, risk_score DESC, council_code;
