-- One council-year finance series from every source that reports it, in long form: one row
-- per council, financial year, measure and source, £000, with the source's precedence
-- (1 = preferred where two sources report the same measure for the same council and year).
-- Not point in time: finance_public.sql picks, at each as-of date, the most preferred source
-- public by then, so a newer source never hides a figure that was public before it was.
--
-- To add a source: one more CTE with the same key columns (source_id, precedence,
-- council_code, period, year_start, period_end, published_date, source_path,
-- source_row_number) and the measures it carries, named as below; unpivot it on those
-- measures and add it to the UNION at the end. Where two sources report a measure for the
-- same council and year, the lower precedence number wins, unless its cell is empty.
CREATE OR REPLACE TEMP VIEW finance_years AS
WITH la_analytics AS (
    -- 2018-19 onwards; `usable_reserves` is the total of usable revenue reserves at 31 March
    -- including schools and public health (METHOD.md, "Reserves in the two finance sources").
    SELECT
        'la_finance_metrics' AS source_id,
        1 AS precedence,
        council_code, period, year_start, period_end, published_date,
        source_path, source_row_number,
        net_revenue_expenditure,
        usable_reserves,
        capital_financing_requirement,
        gross_borrowing,
        external_debt,
        minimum_revenue_provision,
        interest,
        investments,
        short_term_loans
    FROM validated.la_finance_metrics
),
revenue_outturn AS (
    -- 2010-11 to 2017-18: reserves split by kind, at 1 April and 31 March of the year. The
    -- total usable reserves is defined as in la_analytics (all four kinds), only where the
    -- unallocated and earmarked balances are both given.
    SELECT
        'revenue_outturn' AS source_id,
        2 AS precedence,
        council_code, period, year_start, period_end, published_date,
        source_path, source_row_number,
        net_revenue_expenditure,
        unallocated_reserves_start,
        unallocated_reserves_end,
        earmarked_reserves_start,
        earmarked_reserves_end,
        CASE
            WHEN unallocated_reserves_end IS NOT NULL AND earmarked_reserves_end IS NOT NULL
                THEN unallocated_reserves_end + earmarked_reserves_end
                    + coalesce(schools_reserves_end, 0) + coalesce(public_health_reserves_end, 0)
        END AS usable_reserves
    FROM validated.revenue_outturn
),
spending_power AS (
    -- Set at the settlement, before the year starts (published_date is in the validated table).
    SELECT
        'core_spending_power' AS source_id,
        1 AS precedence,
        council_code, period, year_start, period_end, published_date,
        source_path, source_row_number,
        core_spending_power_thousands AS core_spending_power
    FROM validated.core_spending_power
),
-- Before the 2018-19 compilation: the department's Borrowing and Investment live tables (the
-- stock at each 31 March, 2009 on) and the capital outturn prudential indicators (outturn only:
-- budgets are forecasts; 2004-05 to 2018-19, converted from £ million). The compilation wins
-- where it covers a year; the live table's borrowing wins over the prudential gross debt.
live_table AS (
    SELECT
        'borrowing_live_table' AS source_id,
        2 AS precedence,
        b.council_code,
        b.financial_year AS period,
        year(b.period_end) - 1 AS year_start,
        b.period_end,
        b.published_date,
        b.source_path,
        b.source_row_number,
        b.gross_borrowing,
        b.short_term_borrowing AS short_term_loans,
        i.total_investments AS investments
    FROM validated.borrowing_live_table AS b
    LEFT JOIN validated.investments_live_table AS i
        ON i.council_code = b.council_code AND i.period_end = b.period_end
    WHERE month(b.period_end) = 3 AND day(b.period_end) = 31
),
prudential AS (
    SELECT
        'prudential_indicators' AS source_id,
        3 AS precedence,
        council_code,
        financial_year AS period,
        year_start,
        period_end,
        max(published_date) AS published_date,
        any_value(source_path) AS source_path,
        min(source_row_number) AS source_row_number,
        max(value_thousands) FILTER (WHERE measure = 'cfr_end') AS capital_financing_requirement,
        max(value_thousands) FILTER (WHERE measure = 'gross_debt_end') AS external_debt,
        max(value_thousands) FILTER (WHERE measure = 'mrp') AS minimum_revenue_provision,
        max(value_thousands) FILTER (WHERE measure = 'investments_end') AS investments
    FROM validated.prudential_indicators
    WHERE NOT is_forecast
    GROUP BY council_code, financial_year, year_start, period_end
),
--
-- Each source is unpivoted on its own measures, keeping empty cells: a measure a source
-- reports as empty (not reported) is a row with a NULL value, so the year still counts as
-- reporting it (the indicator says "not reported" rather than reaching back to an older year),
-- while a measure a source never carries is no row at all.
la_analytics_long AS (
    SELECT *
    FROM la_analytics
    UNPIVOT INCLUDE NULLS (
        value FOR measure IN (
            net_revenue_expenditure,
            usable_reserves,
            capital_financing_requirement,
            gross_borrowing,
            external_debt,
            minimum_revenue_provision,
            interest,
            investments,
            short_term_loans
        )
    )
),
revenue_outturn_long AS (
    SELECT *
    FROM revenue_outturn
    UNPIVOT INCLUDE NULLS (
        value FOR measure IN (
            net_revenue_expenditure,
            usable_reserves,
            unallocated_reserves_start,
            unallocated_reserves_end,
            earmarked_reserves_start,
            earmarked_reserves_end
        )
    )
),
spending_power_long AS (
    SELECT *
    FROM spending_power
    UNPIVOT INCLUDE NULLS (
        value FOR measure IN (
            core_spending_power
        )
    )
),
live_table_long AS (
    SELECT *
    FROM live_table
    UNPIVOT INCLUDE NULLS (
        value FOR measure IN (gross_borrowing, short_term_loans, investments)
    )
),
prudential_long AS (
    SELECT *
    FROM prudential
    UNPIVOT INCLUDE NULLS (
        value FOR measure IN (
            capital_financing_requirement, external_debt, minimum_revenue_provision, investments
        )
    )
)
SELECT * FROM la_analytics_long
UNION ALL BY NAME SELECT * FROM revenue_outturn_long
UNION ALL BY NAME SELECT * FROM spending_power_long
UNION ALL BY NAME SELECT * FROM live_table_long
UNION ALL BY NAME SELECT * FROM prudential_long;
