-- The finance series (finance_years.sql) as it stood at each as-of date: per council, year and
-- measure, the most preferred source public by then that gives a figure (or, if none gives
-- one, the most preferred that reports the measure as empty); one row per quarter, council and year,
-- each measure with the source row it came from (for the flag's lineage). A table, not a
-- view: the indicators join it to itself for the years before.
-- Input: as_of_dates(quarter, as_of_date), finance_years. Output: view finance_public.
CREATE OR REPLACE TEMP TABLE finance_public AS
WITH chosen AS (
    SELECT q.quarter, f.*
    FROM as_of_dates AS q
    JOIN finance_years AS f ON f.published_date <= q.as_of_date
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, f.council_code, f.year_start, f.measure
        ORDER BY f.value IS NULL, f.precedence, f.published_date DESC
    ) = 1
),
with_lineage AS (
    SELECT
        *,
        struct_pack(
            source_id := source_id,
            published_date := published_date,
            source_path := source_path,
            source_row_number := source_row_number
        ) AS origin
    FROM chosen
)
SELECT
    quarter,
    council_code,
    year_start,
    any_value(period) AS period,
    any_value(period_end) AS period_end,
    max(value) FILTER (WHERE measure = 'net_revenue_expenditure') AS nre,
    max(value) FILTER (WHERE measure = 'usable_reserves') AS usable_reserves,
    max(value) FILTER (WHERE measure = 'unallocated_reserves_start') AS unallocated_start,
    max(value) FILTER (WHERE measure = 'unallocated_reserves_end') AS unallocated,
    max(value) FILTER (WHERE measure = 'earmarked_reserves_start') AS earmarked_start,
    max(value) FILTER (WHERE measure = 'earmarked_reserves_end') AS earmarked,
    max(value) FILTER (WHERE measure = 'capital_financing_requirement') AS cfr,
    max(value) FILTER (WHERE measure = 'gross_borrowing') AS gross_borrowing,
    max(value) FILTER (WHERE measure = 'external_debt') AS external_debt,
    max(value) FILTER (WHERE measure = 'minimum_revenue_provision') AS mrp,
    max(value) FILTER (WHERE measure = 'interest') AS interest,
    max(value) FILTER (WHERE measure = 'investments') AS investments,
    max(value) FILTER (WHERE measure = 'short_term_loans') AS short_term_loans,
    max(value) FILTER (WHERE measure = 'core_spending_power') AS csp,
    any_value(origin) FILTER (WHERE measure = 'net_revenue_expenditure') AS nre_origin,
    any_value(origin) FILTER (WHERE measure = 'usable_reserves') AS usable_reserves_origin,
    any_value(origin) FILTER (WHERE measure = 'unallocated_reserves_end') AS unallocated_origin,
    any_value(origin) FILTER (WHERE measure = 'earmarked_reserves_end') AS earmarked_origin,
    any_value(origin) FILTER (WHERE measure = 'capital_financing_requirement') AS cfr_origin,
    any_value(origin) FILTER (WHERE measure = 'gross_borrowing') AS gross_borrowing_origin,
    any_value(origin) FILTER (WHERE measure = 'minimum_revenue_provision') AS mrp_origin,
    any_value(origin) FILTER (WHERE measure = 'interest') AS interest_origin,
    any_value(origin) FILTER (WHERE measure = 'investments') AS investments_origin,
    any_value(origin) FILTER (WHERE measure = 'short_term_loans') AS short_term_loans_origin,
    any_value(origin) FILTER (WHERE measure = 'core_spending_power') AS csp_origin
FROM with_lineage
GROUP BY quarter, council_code, year_start;
