-- The long evidence table beside the watchlist: every indicator evaluated for every council,
-- flagged or not, with the value, its peer comparison, the threshold, the contribution and the
-- source row it came from, and for register evidence the page it cites (source_url).
-- Inputs: as_of_dates, indicator_catalogue, citations (watchlist/citations);
-- scores.indicator_scores, validated.council_register.
SELECT
    s.quarter,
    s.as_of_date,
    s.council_code,
    r.council_name,
    s.indicator_id,
    c.name AS indicator_name,
    c.family,
    s.method,
    s.polarity,
    s.state,
    s.value,
    c.unit,
    s.previous_value,
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
    c.source,
    s.period,
    s.period_end,
    s.published_date,
    s.source_path,
    s.source_row_number,
    -- Indicator rows cite their own page (an Ofsted report); register rows through citations.
    coalesce(s.source_url, cite.source_url) AS source_url
FROM scores.indicator_scores AS s
JOIN indicator_catalogue AS c ON c.indicator_id = s.indicator_id
JOIN validated.council_register AS r ON r.gss_code = s.council_code
LEFT JOIN citations AS cite
    ON cite.source_path = s.source_path AND cite.source_row_number = s.source_row_number
WHERE s.quarter IN (SELECT quarter FROM as_of_dates)
ORDER BY s.quarter, s.council_code, s.contribution DESC, s.indicator_id;
