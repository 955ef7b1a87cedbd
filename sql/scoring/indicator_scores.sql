-- Every applicable indicator of every council at each as-of date, judged and explained.
--
-- State of an evaluation: 'scored' (judged), or why not: 'not applicable' never appears (such
-- rows are not generated), 'no data', 'stale', 'too few peers', 'no spread among peers',
-- 'no finding recorded' (events), or the source's own state ('not reported', ...).
-- Missing data is never imputed and never lowers a score: it is reported, not judged.
--
-- Peer comparison leaves the council out of its own peer group, so a worse value can only
-- raise its robust z-score: robust_z = (value - peer median) * worse_sign / (1.4826 * MAD).
-- Inputs: as_of_dates, indicator_catalogue; indicators.indicator_values, indicators.peer_groups,
-- indicators.council_successors, validated.council_register.
WITH universe AS (
    SELECT q.quarter, q.as_of_date, r.gss_code AS council_code, r.council_type
    FROM as_of_dates AS q
    JOIN validated.council_register AS r
        ON (r.start_date IS NULL OR r.start_date <= q.as_of_date)
        AND (r.end_date IS NULL OR r.end_date >= q.as_of_date)
),
evaluated AS (
    SELECT
        u.quarter,
        u.as_of_date,
        u.council_code,
        u.council_type,
        c.indicator_id,
        c.method,
        c.polarity,
        c.peer_basis,
        c.threshold,
        c.weight,
        c.min_peers,
        c.max_age_days,
        c.baseline,
        CASE WHEN c.polarity = 'higher_is_worse' THEN 1.0 ELSE -1.0 END AS worse_sign,
        v.value,
        v.previous_value,
        v.period,
        v.period_end,
        v.published_date,
        v.source_path,
        v.source_row_number,
        CASE
            WHEN v.council_code IS NULL AND c.method = 'event' THEN 'no finding recorded'
            WHEN v.council_code IS NULL THEN 'no data'
            WHEN v.value IS NULL THEN v.value_state
            WHEN date_diff('day', v.period_end, u.as_of_date) > c.max_age_days THEN 'stale'
            ELSE 'usable'
        END AS state
    FROM universe AS u
    JOIN indicator_catalogue AS c ON list_contains(c.applies_to, u.council_type)
    LEFT JOIN indicators.indicator_values AS v
        ON v.quarter = u.quarter AND v.council_code = u.council_code
        AND v.indicator_id = c.indicator_id
),
usable AS (
    SELECT * FROM evaluated WHERE state = 'usable' AND method IN ('peer', 'context')
),
resolved_neighbours AS (
    -- A neighbour abolished by the as-of date is replaced by its successors then in being.
    SELECT DISTINCT
        u.quarter,
        p.council_code,
        coalesce(direct.council_code, heir.council_code) AS neighbour_code
    FROM universe AS u
    JOIN indicators.peer_groups AS p ON p.council_code = u.council_code
    LEFT JOIN universe AS direct
        ON direct.quarter = u.quarter AND direct.council_code = p.neighbour_code
    LEFT JOIN indicators.council_successors AS s
        ON direct.council_code IS NULL AND s.predecessor = p.neighbour_code
    LEFT JOIN universe AS heir ON heir.quarter = u.quarter AND heir.council_code = s.successor
    WHERE coalesce(direct.council_code, heir.council_code) IS NOT NULL
        AND coalesce(direct.council_code, heir.council_code) <> p.council_code
),
neighbour_stats AS (
    SELECT
        s.quarter,
        s.council_code,
        s.indicator_id,
        count(p.value) AS peer_group_size,
        median(p.value) AS peer_median,
        mad(p.value) AS peer_mad,
        stddev_samp(p.value) AS peer_sd,
        100.0 * (
            count(*) FILTER (WHERE (s.value - p.value) * s.worse_sign > 0)
            + 0.5 * count(*) FILTER (WHERE s.value = p.value)
        ) / count(p.value) AS percentile
    FROM usable AS s
    JOIN resolved_neighbours AS n ON n.quarter = s.quarter AND n.council_code = s.council_code
    JOIN usable AS p
        ON p.quarter = s.quarter AND p.indicator_id = s.indicator_id
        AND p.council_code = n.neighbour_code
    GROUP BY s.quarter, s.council_code, s.indicator_id
),
type_stats AS (
    SELECT
        s.quarter,
        s.council_code,
        s.indicator_id,
        count(p.value) AS peer_group_size,
        median(p.value) AS peer_median,
        mad(p.value) AS peer_mad,
        stddev_samp(p.value) AS peer_sd,
        100.0 * (
            count(*) FILTER (WHERE (s.value - p.value) * s.worse_sign > 0)
            + 0.5 * count(*) FILTER (WHERE s.value = p.value)
        ) / count(p.value) AS percentile
    FROM usable AS s
    JOIN usable AS p
        ON p.quarter = s.quarter AND p.indicator_id = s.indicator_id
        AND p.council_type = s.council_type AND p.council_code <> s.council_code
    GROUP BY s.quarter, s.council_code, s.indicator_id
),
compared AS (
    SELECT
        e.*,
        CASE
            WHEN e.method NOT IN ('peer', 'context') OR e.state <> 'usable' THEN NULL
            WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
                THEN 'nearest neighbours'
            WHEN ts.peer_group_size >= e.min_peers
                THEN CASE
                    WHEN e.peer_basis = 'nearest_neighbours'
                        THEN 'council type (too few neighbours with data)'
                    ELSE 'council type'
                END
        END AS peer_basis_used,
        CASE WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            THEN nn.peer_group_size ELSE ts.peer_group_size END AS peer_group_size,
        CASE WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            THEN nn.peer_median ELSE ts.peer_median END AS peer_median,
        CASE WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            THEN nn.peer_mad ELSE ts.peer_mad END AS peer_mad,
        CASE WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            THEN nn.peer_sd ELSE ts.peer_sd END AS peer_sd,
        CASE WHEN e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            THEN nn.percentile ELSE ts.percentile END AS percentile
    FROM evaluated AS e
    LEFT JOIN neighbour_stats AS nn
        ON nn.quarter = e.quarter AND nn.council_code = e.council_code
        AND nn.indicator_id = e.indicator_id
    LEFT JOIN type_stats AS ts
        ON ts.quarter = e.quarter AND ts.council_code = e.council_code
        AND ts.indicator_id = e.indicator_id
),
judged AS (
    SELECT
        c.*,
        -- The MAD is 0 when most peers share one value; the standard deviation steps in then.
        CASE
            WHEN c.peer_basis_used IS NULL THEN NULL
            WHEN c.peer_mad > 0 THEN 1.4826 * c.peer_mad
            WHEN c.peer_sd > 0 THEN c.peer_sd
        END AS peer_scale
    FROM compared AS c
),
states AS (
    SELECT
        j.*,
        (j.value - j.peer_median) * j.worse_sign / j.peer_scale AS robust_z,
        CASE
            WHEN j.state <> 'usable' THEN j.state
            WHEN j.method IN ('peer', 'context') AND j.peer_basis_used IS NULL THEN 'too few peers'
            WHEN j.method IN ('peer', 'context') AND j.peer_scale IS NULL
                THEN 'no spread among peers'
            ELSE 'scored'
        END AS final_state
    FROM judged AS j
),
flagged AS (
    SELECT
        s.*,
        CASE
            WHEN s.final_state <> 'scored' OR s.method = 'context' THEN FALSE
            WHEN s.method = 'peer' THEN s.robust_z >= s.threshold
            WHEN s.method = 'absolute' THEN (s.value - s.threshold) * s.worse_sign >= 0
            WHEN s.method = 'event' THEN s.value >= s.threshold
            ELSE FALSE
        END AS is_flagged,
        CASE
            WHEN s.method = 'peer'
                THEN least(1.0, 0.5 + 0.5 * (s.robust_z - s.threshold) / s.threshold)
            WHEN s.method = 'absolute'
                THEN least(1.0, 0.5 + 0.5 * (s.value - s.threshold) * s.worse_sign
                    / nullif(abs(s.threshold), 0))
            WHEN s.method = 'event' THEN least(1.0, s.value)
        END AS raw_severity
    FROM states AS s
)
SELECT
    quarter,
    as_of_date,
    council_code,
    council_type,
    indicator_id,
    method,
    polarity,
    final_state AS state,
    value,
    previous_value,
    period,
    period_end,
    published_date,
    peer_basis_used AS peer_basis,
    peer_group_size,
    peer_median,
    robust_z,
    percentile,
    threshold,
    weight,
    baseline,
    is_flagged AS flagged,
    CASE WHEN is_flagged THEN coalesce(raw_severity, 1.0) ELSE 0.0 END AS severity,
    CASE WHEN is_flagged THEN weight * coalesce(raw_severity, 1.0) ELSE 0.0 END AS contribution,
    source_path,
    source_row_number
FROM flagged;
