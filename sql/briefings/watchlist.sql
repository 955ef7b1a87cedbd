-- One quarter's watchlist as the briefing index shows it: the councils not already known in
-- rank order, then the known cases in their own order. Input: watchlist.watchlist.
-- Parameter: $quarter (e.g. 2019Q1).
SELECT
    quarter,
    as_of_date,
    council_code,
    council_name,
    council_type,
    region,
    rank,
    known_case_rank,
    risk_score,
    baseline_score,
    risk_band,
    known_case,
    known_case_reason,
    n_flags,
    flagged_families,
    coverage,
    n_indicators_applicable,
    n_indicators_scored,
    top_reasons,
    inputs_sha256,
    run_id,
    pipeline_version
FROM watchlist.watchlist
WHERE quarter = $quarter
ORDER BY known_case, coalesce(rank, known_case_rank), council_code;
