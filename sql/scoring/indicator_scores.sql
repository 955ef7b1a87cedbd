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
        v.source_url,
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
-- Peers of the same council type, the council itself left out, from each group's sorted values:
-- leaving one value out of a sorted list moves its median (and the median of deviations from
-- that median) by at most one place, so every statistic is read off the group's sorted values
-- at positions computed from the council's own rank. This gives exactly what joining each
-- council to every other council of its type would (median, MAD, percentile), without a join
-- that grows with the square of the group: 16,400 districts make 269 million pairs per indicator.
-- The median of n - 1 values w_1..w_m (m = n - 1) is w_(m+1)/2, or (lo + hi) / 2 of the two
-- middle values when m is even (as DuckDB's median and mad compute it); with the council at
-- position p of the sorted group, w_k is the value at position k for k < p, else at k + 1.
type_ranked AS (
    SELECT
        s.quarter,
        s.council_code,
        s.indicator_id,
        s.council_type,
        s.value,
        s.worse_sign,
        count(*) OVER type_group AS group_size,
        row_number() OVER (type_group ORDER BY s.value) AS position,
        rank() OVER (type_group ORDER BY s.value) - 1 AS n_below,
        rank() OVER (type_group ORDER BY s.value DESC) - 1 AS n_above
    FROM usable AS s
    WINDOW type_group AS (PARTITION BY s.quarter, s.indicator_id, s.council_type)
),
type_middle AS (
    -- Positions (in the whole sorted group) of the middle value(s) once the council is left out.
    SELECT
        r.*,
        (r.group_size - 1) % 2 = 1 AS odd,
        CASE WHEN (r.group_size - 1) % 2 = 1 THEN r.group_size // 2
            ELSE (r.group_size - 1) // 2 END AS k_lo
    FROM type_ranked AS r
    WHERE r.group_size > 1
),
type_loo_median AS (
    SELECT
        m.*,
        CASE WHEN m.odd THEN lo.value ELSE (lo.value + hi.value) / 2 END AS peer_median
    FROM type_middle AS m
    JOIN type_ranked AS lo
        ON lo.quarter = m.quarter AND lo.indicator_id = m.indicator_id
        AND lo.council_type = m.council_type
        AND lo.position = CASE WHEN m.k_lo < m.position THEN m.k_lo ELSE m.k_lo + 1 END
    LEFT JOIN type_ranked AS hi  -- not there (nor needed) for an odd count
        ON hi.quarter = m.quarter AND hi.indicator_id = m.indicator_id
        AND hi.council_type = m.council_type
        AND hi.position = CASE WHEN m.k_lo + 1 < m.position THEN m.k_lo + 1 ELSE m.k_lo + 2 END
),
type_centres AS (
    -- The few distinct leave-one-out medians of a group (at most three).
    SELECT DISTINCT quarter, indicator_id, council_type, peer_median AS centre
    FROM type_loo_median
),
type_deviations AS (
    SELECT
        c.quarter,
        c.indicator_id,
        c.council_type,
        c.centre,
        u.council_code,
        abs(u.value - c.centre) AS deviation,
        row_number() OVER (
            PARTITION BY c.quarter, c.indicator_id, c.council_type, c.centre
            ORDER BY abs(u.value - c.centre)
        ) AS position
    FROM type_centres AS c
    JOIN usable AS u
        ON u.quarter = c.quarter AND u.indicator_id = c.indicator_id
        AND u.council_type = c.council_type
),
type_loo AS (
    SELECT
        m.quarter,
        m.council_code,
        m.indicator_id,
        m.council_type,
        m.group_size - 1 AS peer_group_size,
        m.peer_median,
        CASE WHEN m.odd THEN lo.deviation ELSE (lo.deviation + hi.deviation) / 2 END AS peer_mad,
        -- Peers the council is worse than, and peers level with it (itself not counted).
        CASE WHEN m.worse_sign > 0 THEN m.n_below ELSE m.n_above END AS n_worse_than,
        m.group_size - 1 - m.n_below - m.n_above AS n_level
    FROM type_loo_median AS m
    JOIN type_deviations AS own
        ON own.quarter = m.quarter AND own.indicator_id = m.indicator_id
        AND own.council_type = m.council_type AND own.centre = m.peer_median
        AND own.council_code = m.council_code
    JOIN type_deviations AS lo
        ON lo.quarter = m.quarter AND lo.indicator_id = m.indicator_id
        AND lo.council_type = m.council_type AND lo.centre = m.peer_median
        AND lo.position = CASE WHEN m.k_lo < own.position THEN m.k_lo ELSE m.k_lo + 1 END
    LEFT JOIN type_deviations AS hi
        ON hi.quarter = m.quarter AND hi.indicator_id = m.indicator_id
        AND hi.council_type = m.council_type AND hi.centre = m.peer_median
        AND hi.position = CASE WHEN m.k_lo + 1 < own.position THEN m.k_lo + 1 ELSE m.k_lo + 2 END
),
type_sd AS (
    -- The standard deviation steps in only where the MAD is 0, so it is computed only there.
    SELECT s.quarter, s.council_code, s.indicator_id, stddev_samp(p.value) AS peer_sd
    FROM type_loo AS s
    JOIN usable AS p
        ON p.quarter = s.quarter AND p.indicator_id = s.indicator_id
        AND p.council_type = s.council_type AND p.council_code <> s.council_code
    WHERE s.peer_mad = 0
    GROUP BY s.quarter, s.council_code, s.indicator_id
),
type_stats AS (
    SELECT
        s.quarter,
        s.council_code,
        s.indicator_id,
        s.peer_group_size,
        s.peer_median,
        s.peer_mad,
        sd.peer_sd,
        100.0 * (s.n_worse_than + 0.5 * s.n_level) / s.peer_group_size AS percentile
    FROM type_loo AS s
    LEFT JOIN type_sd AS sd
        ON sd.quarter = s.quarter AND sd.council_code = s.council_code
        AND sd.indicator_id = s.indicator_id
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
    source_row_number,
    source_url
FROM flagged;
