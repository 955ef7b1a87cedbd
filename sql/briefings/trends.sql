-- The history behind each flagged indicator of the given councils: the council's value and its
-- peer median at every quarter's as-of date up to and including $quarter (never later: a pack
-- shows only what was known then), and the flag line in the indicator's own unit.
--
-- For a peer indicator the flag line is the value that would be exactly `threshold` MADs worse
-- than the peer median: robust_z = (value - median) * sign / scale, so
-- median + threshold * (value - median) / robust_z. It is unknown when robust_z is 0 or null.
-- For absolute and event indicators the threshold already is in the indicator's unit.
-- Input: scores.indicator_scores. Parameters: $quarter, $councils (a list of GSS codes).
WITH flagged_now AS (
    SELECT council_code, indicator_id
    FROM scores.indicator_scores
    WHERE quarter = $quarter AND flagged AND list_contains($councils, council_code)
)
SELECT
    s.council_code,
    s.indicator_id,
    s.quarter,
    s.as_of_date,
    s.method,
    s.state,
    s.value,
    s.peer_median,
    s.peer_group_size,
    s.peer_basis,
    s.threshold,
    CASE
        WHEN s.method = 'peer' AND s.robust_z <> 0
            THEN s.peer_median + s.threshold * (s.value - s.peer_median) / s.robust_z
        WHEN s.method IN ('absolute', 'event') THEN s.threshold
    END AS flag_line,
    s.flagged
FROM scores.indicator_scores AS s
JOIN flagged_now AS f ON f.council_code = s.council_code AND f.indicator_id = s.indicator_id
WHERE s.quarter <= $quarter
ORDER BY s.council_code, s.indicator_id, s.as_of_date;
