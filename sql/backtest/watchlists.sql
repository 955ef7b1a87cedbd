-- Every quarter's point-in-time watchlist, as built.
SELECT
    quarter, as_of_date, council_code, council_name, council_type, known_case, risk_score,
    baseline_score, risk_band, rank
FROM watchlist.watchlist
ORDER BY quarter, council_code;
