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
        stddev_samp(p.value ORDER BY p.value) AS peer_sd,  -- a fixed order: same last digit
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
type_centred AS (
    SELECT
        r.quarter, r.council_code, r.indicator_id, r.council_type, r.group_size, r.position,
        r.value - avg(r.value) OVER type_group AS deviation
    FROM type_ranked AS r
    -- Sums over a fixed order, so a rebuilt quarter gets the same last digit.
    WINDOW type_group AS (
        PARTITION BY r.quarter, r.indicator_id, r.council_type ORDER BY r.position
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
),
type_sd AS (
    -- Standard deviation of the other councils of the type, from the group's centred moments:
    -- leaving out a value with deviation d from the group mean leaves m = n - 1 values whose
    -- squared deviations from their own mean sum to Q - d^2 - d^2 / m (Q: the group's sum).
    SELECT
        quarter, council_code, indicator_id,
        CASE WHEN group_size >= 3 THEN sqrt(greatest(0.0,
            (sum(deviation * deviation) OVER type_group - deviation * deviation
                - deviation * deviation / (group_size - 1)) / (group_size - 2)))
        END AS peer_sd
    FROM type_centred
    WINDOW type_group AS (
        PARTITION BY quarter, indicator_id, council_type ORDER BY position
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
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
-- Every council with a usable value of the indicator, whatever its type, the council itself
-- left out: the share of them it is worse than (ties count half). Levels such as reserves as a
-- share of net revenue expenditure mean the same for every kind of council, and a council
-- whose whole peer group is weak looks ordinary against its peers; ranked against everyone,
-- usable reserves % NRE alone ranks later failures at ROC AUC 0.83, against its peers 0.74
-- (METHOD.md section 3, benchmarks/SCORING_CHOICES.md).
national_ranked AS (
    SELECT
        u.quarter,
        u.council_code,
        u.indicator_id,
        u.worse_sign,
        count(*) OVER national_group - 1 AS n_others,
        rank() OVER (national_group ORDER BY u.value) - 1 AS n_below,
        rank() OVER (national_group ORDER BY u.value DESC) - 1 AS n_above
    FROM usable AS u
    WINDOW national_group AS (PARTITION BY u.quarter, u.indicator_id)
),
national_stats AS (
    SELECT
        quarter,
        council_code,
        indicator_id,
        n_others AS national_group_size,
        100.0 * (CASE WHEN worse_sign > 0 THEN n_below ELSE n_above END
            + 0.5 * (n_others - n_below - n_above)) / n_others AS national_percentile
    FROM national_ranked
    WHERE n_others > 0
),
compared AS (
    SELECT
        e.*,
        CASE WHEN ns.national_group_size >= e.min_peers
            THEN ns.national_percentile END AS national_percentile,
        e.method IN ('peer', 'context') AND e.state = 'usable'
            AND e.peer_basis = 'nearest_neighbours' AND nn.peer_group_size >= e.min_peers
            AS neighbours_usable,
        e.method IN ('peer', 'context') AND e.state = 'usable'
            AND ts.peer_group_size >= e.min_peers AS type_usable,
        nn.peer_group_size AS nn_size,
        nn.peer_median AS nn_median,
        nn.percentile AS nn_percentile,
        ts.peer_group_size AS ts_size,
        ts.peer_median AS ts_median,
        ts.percentile AS ts_percentile,
        -- The peers' scale: 1.4826 x MAD, but never below a share of the peers' standard
        -- deviation, so a MAD near 0 (most peers' values did not move) cannot turn a small
        -- difference into a huge z-score; the standard deviation alone when the MAD is 0.
        CASE
            WHEN nn.peer_mad > 0
                THEN greatest(1.4826 * nn.peer_mad, st.peer_scale_floor * coalesce(nn.peer_sd, 0))
            WHEN nn.peer_sd > 0 THEN nn.peer_sd
        END AS nn_scale,
        CASE
            WHEN ts.peer_mad > 0
                THEN greatest(1.4826 * ts.peer_mad, st.peer_scale_floor * coalesce(ts.peer_sd, 0))
            WHEN ts.peer_sd > 0 THEN ts.peer_sd
        END AS ts_scale,
        st.compare_with_council_type,
        st.severity_below_threshold,
        st.below_line_reach,
        st.severity_at_least_national_percentile
    FROM evaluated AS e
    CROSS JOIN scoring_settings AS st
    LEFT JOIN national_stats AS ns
        ON ns.quarter = e.quarter AND ns.council_code = e.council_code
        AND ns.indicator_id = e.indicator_id
    LEFT JOIN neighbour_stats AS nn
        ON nn.quarter = e.quarter AND nn.council_code = e.council_code
        AND nn.indicator_id = e.indicator_id
    LEFT JOIN type_stats AS ts
        ON ts.quarter = e.quarter AND ts.council_code = e.council_code
        AND ts.indicator_id = e.indicator_id
),
both_z AS (
    SELECT
        c.*,
        CASE WHEN c.neighbours_usable
            THEN (c.value - c.nn_median) * c.worse_sign / c.nn_scale END AS nn_z,
        CASE WHEN c.type_usable
            THEN (c.value - c.ts_median) * c.worse_sign / c.ts_scale END AS ts_z
    FROM compared AS c
),
chosen AS (
    -- Judged against its neighbours and, where set, against all councils of its type too:
    -- the comparison in which the value is worse counts, so a council whose whole neighbour
    -- group is weak is still seen. Without usable neighbours, the type is the fallback.
    SELECT
        b.*,
        CASE
            WHEN NOT coalesce(b.neighbours_usable, FALSE) THEN coalesce(b.type_usable, FALSE)
            WHEN b.compare_with_council_type AND b.ts_z IS NOT NULL
                -- (by more than rounding: the same peers computed two ways may differ in
                -- the last digit)
                THEN b.nn_z IS NULL OR b.ts_z > b.nn_z + 1e-9
            ELSE FALSE
        END AS use_type
    FROM both_z AS b
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN c.method NOT IN ('peer', 'context') OR c.state <> 'usable' THEN NULL
            WHEN NOT c.use_type AND c.neighbours_usable THEN 'nearest neighbours'
            WHEN c.use_type AND c.peer_basis = 'council_type' THEN 'council type'
            WHEN c.use_type AND coalesce(c.neighbours_usable, FALSE)
                THEN 'council type (worse than against its neighbours)'
            WHEN c.use_type THEN 'council type (too few neighbours with data)'
        END AS peer_basis_used,
        CASE WHEN c.use_type THEN c.ts_size ELSE c.nn_size END AS peer_group_size,
        CASE WHEN c.use_type THEN c.ts_median ELSE c.nn_median END AS peer_median,
        CASE WHEN c.use_type THEN c.ts_percentile ELSE c.nn_percentile END AS percentile,
        CASE WHEN c.use_type THEN c.ts_scale ELSE c.nn_scale END AS peer_scale,
        CASE WHEN c.use_type THEN c.ts_z ELSE c.nn_z END AS chosen_z
    FROM chosen AS c
),
states AS (
    SELECT
        j.*,
        j.chosen_z AS robust_z,
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
        -- Severity runs continuously: 0.5 at the threshold, 1 at twice the distance, and
        -- down to 0 below the line (a peer value `below_line_reach` thresholds on the good
        -- side of its peers' median, an absolute value twice the threshold's size on the good
        -- side), so councils below the flag line are still ranked by how close they are to it
        -- instead of tying at 0: half of all councils sit on the good side of any median.
        -- A peer severity is never below the share of all councils the value is worse than
        -- (`severity_at_least_national_percentile`): the peer comparison says whether to
        -- flag, the national rank keeps a council whose whole peer group is weak from
        -- looking ordinary.
        CASE
            WHEN s.final_state <> 'scored' OR s.method = 'context' THEN NULL
            WHEN s.method = 'peer' THEN greatest(
                CASE
                    WHEN s.robust_z >= s.threshold
                        THEN least(1.0, 0.5 + 0.5 * (s.robust_z - s.threshold) / s.threshold)
                    ELSE greatest(0.0, 0.5 * (s.robust_z + s.below_line_reach * s.threshold)
                        / ((1 + s.below_line_reach) * s.threshold))
                END,
                CASE WHEN s.severity_at_least_national_percentile
                    THEN coalesce(s.national_percentile, 0.0) / 100.0 ELSE 0.0 END
            )
            WHEN s.method = 'absolute'
                THEN greatest(0.0, least(1.0, 0.5 + 0.5 * (s.value - s.threshold) * s.worse_sign
                    / nullif(abs(s.threshold), 0)))
            WHEN s.method = 'event' THEN greatest(0.0, least(1.0, s.value))
        END AS raw_severity
    FROM states AS s
),
counted AS (
    SELECT
        f.*,
        CASE
            WHEN f.is_flagged THEN coalesce(f.raw_severity, 1.0)
            WHEN f.severity_below_threshold THEN coalesce(f.raw_severity, 0.0)
            ELSE 0.0
        END AS counted_severity
    FROM flagged AS f
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
    CASE WHEN final_state = 'scored' THEN national_percentile END AS national_percentile,
    threshold,
    weight,
    baseline,
    is_flagged AS flagged,
    counted_severity AS severity,
    weight * counted_severity AS contribution,
    source_path,
    source_row_number,
    source_url
FROM counted;
