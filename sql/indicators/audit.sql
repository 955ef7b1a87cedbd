-- External audit signals at each as-of date, from findings public by then. Each finding's
-- strength halves every `half_life_years` (catalogue), so old findings fade but do not vanish.
-- A disclaimer given only because of the statutory backstop is kept apart: missing evidence.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue, audit_years. Output: standard.
WITH public_findings AS (
    SELECT
        q.quarter,
        q.as_of_date,
        f.*,
        coalesce(f.published_date, f.finding_date) AS public_date,
        CASE
            WHEN f.finding_type = 'audit_opinion' AND f.opinion IN ('qualified', 'adverse')
                THEN 'audit_opinion_modified'
            WHEN f.finding_type = 'audit_opinion' AND f.opinion = 'disclaimed'
                AND f.disclaimer_reason = 'backstop'
                THEN 'audit_backstop_disclaimer'
            WHEN f.finding_type = 'audit_opinion' AND f.opinion = 'disclaimed'
                THEN 'audit_opinion_modified'
            WHEN f.finding_type = 'vfm_significant_weakness'
                THEN 'vfm_weakness_' || f.vfm_criterion
            WHEN f.finding_type = 'recommendation'
                THEN f.recommendation_tier || '_recommendation'
            WHEN f.finding_type = 'public_interest_report'
                THEN 'public_interest_report'
        END AS indicator_id
    FROM as_of_dates AS q
    JOIN validated.audit_findings AS f
        ON coalesce(f.published_date, f.finding_date) <= q.as_of_date
),
decayed AS (
    SELECT
        p.quarter,
        p.council_code,
        p.indicator_id,
        string_agg(DISTINCT p.financial_year, ', ' ORDER BY p.financial_year) AS period,
        max(p.finding_date) AS period_end,
        max(p.public_date) AS published_date,
        sum(exp(-ln(2) * date_diff('day', p.finding_date, p.as_of_date) / 365.25
            / c.half_life_years)) AS value,
        arg_max(p.source_path, p.finding_date) AS source_path,
        arg_max(p.source_row_number, p.finding_date) AS source_row_number
    FROM public_findings AS p
    JOIN indicator_catalogue AS c ON c.indicator_id = p.indicator_id
    GROUP BY p.quarter, p.council_code, p.indicator_id
),
latest_opinion AS (
    SELECT *
    FROM public_findings
    WHERE finding_type = 'audit_opinion'
    QUALIFY row_number() OVER (
        PARTITION BY quarter, council_code, financial_year ORDER BY finding_date DESC
    ) = 1
),
outstanding AS (
    SELECT
        o.quarter,
        o.council_code,
        'audit_opinion_outstanding' AS indicator_id,
        string_agg(o.financial_year, ', ' ORDER BY o.financial_year) AS period,
        max(y.opinion_deadline) AS period_end,
        max(o.public_date) AS published_date,
        sum(date_diff('day', y.opinion_deadline, o.as_of_date) / 365.25) AS value,
        arg_max(o.source_path, o.finding_date) AS source_path,
        arg_max(o.source_row_number, o.finding_date) AS source_row_number
    FROM latest_opinion AS o
    JOIN audit_years AS y ON y.financial_year = o.financial_year
    WHERE o.opinion = 'outstanding'
        AND o.as_of_date > y.opinion_deadline
        AND o.as_of_date < y.backstop
    GROUP BY o.quarter, o.council_code
)
SELECT
    quarter, council_code, indicator_id, period, period_end, published_date, value,
    'reported' AS value_state, NULL::DOUBLE AS previous_value, source_path, source_row_number
FROM decayed
UNION ALL
SELECT
    quarter, council_code, indicator_id, period, period_end, published_date, value,
    'reported' AS value_state, NULL::DOUBLE AS previous_value, source_path, source_row_number
FROM outstanding;
