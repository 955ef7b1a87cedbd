-- Borrowing from other councils, from the Borrowing and Investment live tables, as it stood at
-- each as-of date: the share of gross borrowing owed to other local authorities at the latest
-- date whose table was public by then (a quarter end from 2017-18, 31 March before). The other
-- debt measures read the council-year finance series (finance_years.sql), which takes these
-- tables' 31 March stocks; only this one needs the lender.
-- Input: as_of_dates(quarter, as_of_date). Output: the standard indicator value columns.
WITH public_borrowing AS (
    SELECT
        q.quarter,
        b.council_code,
        b.period_end,
        b.published_date,
        b.gross_borrowing,
        b.borrowing_from_other_councils,
        b.source_path,
        b.source_row_number,
        max(b.period_end) OVER (PARTITION BY q.quarter, b.council_code) AS latest_date
    FROM as_of_dates AS q
    JOIN validated.borrowing_live_table AS b ON b.published_date <= q.as_of_date
)
SELECT
    quarter,
    council_code,
    'borrowing_from_other_councils_share' AS indicator_id,
    'at ' || strftime(period_end, '%Y-%m-%d') AS period,
    period_end,
    published_date,
    CASE
        WHEN borrowing_from_other_councils IS NOT NULL AND gross_borrowing > 0
            THEN 100 * borrowing_from_other_councils / gross_borrowing
    END AS value,
    CASE
        WHEN borrowing_from_other_councils IS NOT NULL AND gross_borrowing > 0 THEN 'reported'
        ELSE 'not computable (missing or zero base)'
    END AS value_state,
    NULL::DOUBLE AS previous_value,
    source_path,
    source_row_number
FROM public_borrowing
WHERE period_end = latest_date;
