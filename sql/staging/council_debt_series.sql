-- One row per council and financial year (period 'YYYY-YY', stock at 31 March = period_end),
-- £000: the Borrowing and Investment live table's 31 March stock beside the capital outturn
-- prudential indicators (outturn only; budgets are forecasts). Each half keeps its own
-- publication date and source row, so a point-in-time reader can use either alone.
-- The finance helper's 2018-19+ series can be unioned on the same columns.
CREATE OR REPLACE TABLE validated.council_debt_series AS
WITH live AS (
    SELECT
        b.council_code,
        b.financial_year AS period,
        b.period_end,
        b.published_date,
        b.gross_borrowing,
        b.short_term_borrowing,
        b.borrowing_from_other_councils,
        b.pwlb AS pwlb_borrowing,
        i.total_investments AS investments,
        b.source_path,
        b.source_row_number,
        b.sheet_name
    FROM validated.borrowing_live_table AS b
    LEFT JOIN validated.investments_live_table AS i
        ON i.council_code = b.council_code AND i.period_end = b.period_end
    WHERE month(b.period_end) = 3
),
prudential AS (
    SELECT
        council_code,
        financial_year AS period,
        period_end,
        max(published_date) AS published_date,
        max(value_thousands) FILTER (WHERE measure = 'cfr_end') AS cfr,
        max(value_thousands) FILTER (WHERE measure = 'gross_debt_end') AS gross_debt,
        max(value_thousands) FILTER (WHERE measure = 'mrp') AS mrp,
        max(value_thousands) FILTER (WHERE measure = 'other_long_term_liabilities_end')
            AS other_long_term_liabilities,
        max(value_thousands) FILTER (WHERE measure = 'investments_end') AS investments,
        min(source_row_number) AS source_row_number,
        any_value(source_path) AS source_path
    FROM validated.prudential_indicators
    WHERE NOT is_forecast
    GROUP BY council_code, financial_year, period_end
)
SELECT
    coalesce(l.council_code, p.council_code) AS council_code,
    coalesce(l.period, p.period) AS period,
    coalesce(l.period_end, p.period_end) AS period_end,
    l.published_date AS live_table_published_date,
    p.published_date AS prudential_published_date,
    l.gross_borrowing,
    l.short_term_borrowing,
    l.borrowing_from_other_councils,
    l.pwlb_borrowing,
    l.investments AS live_table_investments,
    p.cfr,
    p.gross_debt,
    p.mrp,
    p.other_long_term_liabilities,
    p.investments AS prudential_investments,
    l.source_path AS live_table_source_path,
    l.sheet_name AS live_table_sheet,
    l.source_row_number AS live_table_source_row_number,
    p.source_path AS prudential_source_path,
    p.source_row_number AS prudential_source_row_number
FROM live AS l
FULL OUTER JOIN prudential AS p ON p.council_code = l.council_code AND p.period = l.period;
