-- External audit signals at each as-of date, from findings public by then. Each finding's
-- strength halves every `half_life_years` (catalogue), so old findings fade but do not vanish.
-- A disclaimer given because of the statutory backstop, or for no stated reason, is kept
-- apart: missing evidence, not a finding against the council.
-- Only findings placed in time count: a row whose date is unplaceable (no finding_date) is in
-- the register but never here. Rows that record the same finding (one `finding_ref`, e.g. a
-- report and the article about it) count once, from the earliest placed date. A row naming
-- several financial years ("2021-22;2022-23") is one finding about each year.
-- Input: as_of_dates(quarter, as_of_date), indicator_catalogue, audit_years. Output: standard.
WITH placed AS (
    SELECT
        f.*,
        coalesce(f.published_date, f.finding_date) AS public_date,
        -- A row with no reference is a finding of its own.
        coalesce(f.finding_ref, f.source_path || '#' || f.source_row_number) AS finding_key,
        CASE
            WHEN f.finding_type = 'audit_opinion' AND f.opinion IN ('qualified', 'adverse')
                THEN 'audit_opinion_modified'
            WHEN f.finding_type = 'audit_opinion' AND f.opinion = 'disclaimed'
                AND f.disclaimer_reason = 'other'
                THEN 'audit_opinion_modified'
            WHEN f.finding_type = 'audit_opinion' AND f.opinion = 'disclaimed'
                THEN 'audit_backstop_disclaimer'
            WHEN f.finding_type = 'vfm_significant_weakness'
                THEN 'vfm_weakness_' || f.vfm_criterion
            WHEN f.finding_type = 'recommendation'
                THEN f.recommendation_tier || '_recommendation'
            WHEN f.finding_type IN ('public_interest_report', 'vfm_qualified_conclusion',
                'accounts_delayed')
                THEN f.finding_type
        END AS indicator_id
    FROM validated.audit_findings AS f
    WHERE f.finding_date IS NOT NULL AND f.date_precision <> 'unplaceable'
),
public_findings AS (
    -- One row per finding (its earliest public row) at each as-of date after it; the
    -- opinions that feed no decayed count (outstanding, unmodified) are kept for the next steps.
    SELECT q.quarter, q.as_of_date, p.*
    FROM as_of_dates AS q
    JOIN placed AS p ON p.public_date <= q.as_of_date
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, p.council_code, p.indicator_id, p.finding_key
        ORDER BY p.public_date, p.finding_date, p.source_path, p.source_row_number
    ) = 1
),
decayed AS (
    SELECT
        p.quarter,
        p.council_code,
        p.indicator_id,
        coalesce(
            string_agg(DISTINCT p.financial_year, ', ' ORDER BY p.financial_year),
            strftime(max(p.finding_date), '%Y-%m-%d')
        ) AS period,
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
opinion_years AS (
    SELECT p.*, trim(y.year) AS opinion_year
    FROM public_findings AS p, unnest(string_split(p.financial_year, ';')) AS y(year)
    WHERE p.finding_type = 'audit_opinion'
),
latest_opinion AS (
    SELECT *
    FROM opinion_years
    QUALIFY row_number() OVER (
        PARTITION BY quarter, council_code, opinion_year ORDER BY finding_date DESC
    ) = 1
),
outstanding AS (
    SELECT
        o.quarter,
        o.council_code,
        'audit_opinion_outstanding' AS indicator_id,
        string_agg(o.opinion_year, ', ' ORDER BY o.opinion_year) AS period,
        max(y.opinion_deadline) AS period_end,
        max(o.public_date) AS published_date,
        sum(date_diff('day', y.opinion_deadline, o.as_of_date) / 365.25) AS value,
        arg_max(o.source_path, o.finding_date) AS source_path,
        arg_max(o.source_row_number, o.finding_date) AS source_row_number
    FROM latest_opinion AS o
    JOIN audit_years AS y ON y.financial_year = o.opinion_year
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
