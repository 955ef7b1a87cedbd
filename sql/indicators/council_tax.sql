-- Council tax receipts over the latest four quarters public at each as-of date, against the
-- four quarters before. Fewer than eight quarters on record: not computable.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
WITH public_quarters AS (
    SELECT
        q.quarter,
        r.council_code,
        r.quarter_start,
        r.quarter_end,
        r.published_date,
        r.receipts,
        r.source_path,
        r.source_row_number,
        row_number() OVER (
            PARTITION BY q.quarter, r.council_code ORDER BY r.quarter_start DESC
        ) AS recency
    FROM as_of_dates AS q
    JOIN validated.council_tax_receipts AS r ON r.published_date <= q.as_of_date
),
windows AS (
    SELECT
        quarter,
        council_code,
        sum(receipts) FILTER (WHERE recency <= 4) AS last_four,
        sum(receipts) FILTER (WHERE recency BETWEEN 5 AND 8) AS previous_four,
        count(receipts) FILTER (WHERE recency <= 8) AS quarters_with_figures,
        max(quarter_end) AS period_end,
        max(published_date) AS published_date,
        arg_max(source_path, quarter_start) AS source_path,
        arg_max(source_row_number, quarter_start) AS source_row_number,
        strftime(max(quarter_start), '%Y-%m') || ' and three quarters before' AS period
    FROM public_quarters
    WHERE recency <= 8
    GROUP BY quarter, council_code
)
SELECT
    quarter,
    council_code,
    'council_tax_receipts_growth' AS indicator_id,
    period,
    period_end,
    published_date,
    CASE
        WHEN quarters_with_figures = 8 AND previous_four > 0
            THEN 100 * (last_four - previous_four) / previous_four
    END AS value,
    CASE
        WHEN quarters_with_figures = 8 AND previous_four > 0 THEN 'reported'
        ELSE 'not computable (fewer than eight quarters)'
    END AS value_state,
    NULL::DOUBLE AS previous_value,
    source_path,
    source_row_number
FROM windows;
