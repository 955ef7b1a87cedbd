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
-- At merge: validated.borrowing_investment (31 March stocks of borrowing and investments) and
-- validated.prudential_indicators / capital outturn (CFR, gross debt, MRP back to 2004-05)
-- join here as further CTEs, unpivoted on their own measures like the three below, with a
-- precedence below la_analytics for the years both cover.
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
)
SELECT * FROM la_analytics_long
UNION ALL BY NAME SELECT * FROM revenue_outturn_long
UNION ALL BY NAME SELECT * FROM spending_power_long;
