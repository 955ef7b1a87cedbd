-- Size and span of the council-year debt series, for the asset's metadata.
SELECT
    count(*) AS n_rows,
    count(DISTINCT council_code) AS councils,
    min(period) AS first_period,
    max(period) AS last_period
FROM validated.council_debt_series;
