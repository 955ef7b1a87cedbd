-- Every applicable indicator of the given councils in one quarter, flagged or not, with the
-- words the catalogue gives it: the evidence table, the data gaps and the context of a pack.
-- Inputs: briefing_indicator_catalogue (the catalogue, registered), citations
-- (watchlist/citations); scores.indicator_scores.
-- Parameters: $quarter, $councils (a list of GSS codes).
SELECT
    s.quarter,
    s.as_of_date,
    s.council_code,
    s.council_type,
    s.indicator_id,
    c.name AS indicator_name,
    c.family,
    c.unit,
    c.source,
    c.min_peers,
    c.max_age_days,
    c.half_life_years,
    s.method,
    s.polarity,
    s.state,
    s.value,
    s.previous_value,
    s.period,
    s.period_end,
    s.published_date,
    s.peer_basis,
    s.peer_group_size,
    s.peer_median,
    s.robust_z,
    s.percentile,
    s.national_percentile,
    s.threshold,
    s.weight,
    s.flagged,
    s.severity,
    s.contribution,
    s.source_path,
    s.source_row_number,
    coalesce(s.source_url, cite.source_url) AS source_url,
    cite.exact_phrase
FROM scores.indicator_scores AS s
JOIN briefing_indicator_catalogue AS c ON c.indicator_id = s.indicator_id
LEFT JOIN citations AS cite
    ON cite.source_path = s.source_path AND cite.source_row_number = s.source_row_number
WHERE s.quarter = $quarter AND list_contains($councils, s.council_code)
ORDER BY s.council_code, s.contribution DESC, s.indicator_id;
