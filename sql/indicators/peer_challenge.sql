-- LGA Corporate Peer Challenge signals at each as-of date, from the latest challenge held by
-- then: years since it, and whether its report (due within three months) and progress review
-- (due within fifteen months) were overdue at the as-of date.
-- Only challenges placed in time count (an unplaceable date is never used). Where the row
-- records the challenge only (follow_up_recorded false), an empty report or review date says
-- nothing, so those two are "not recorded" rather than overdue.
-- Input: as_of_dates(quarter, as_of_date). Output: standard columns.
WITH latest AS (
    SELECT q.quarter, q.as_of_date, c.*
    FROM as_of_dates AS q
    JOIN validated.peer_challenges AS c
        ON c.challenge_date <= q.as_of_date AND c.date_precision <> 'unplaceable'
    QUALIFY row_number() OVER (
        PARTITION BY q.quarter, c.council_code ORDER BY c.challenge_date DESC
    ) = 1
),
measured AS (
    SELECT
        l.*,
        m.indicator_id,
        m.value
    FROM latest AS l,
    LATERAL (
        VALUES
            ('years_since_peer_challenge',
             date_diff('day', l.challenge_date, l.as_of_date) / 365.25),
            ('peer_challenge_report_overdue',
             CASE
                 WHEN l.report_published_date IS NOT NULL
                     AND l.report_published_date <= l.as_of_date THEN 0
                 WHEN NOT l.follow_up_recorded THEN NULL
                 ELSE greatest(0, date_diff('day', l.challenge_date + INTERVAL 3 MONTH,
                     l.as_of_date) / 30.44)
             END),
            ('peer_challenge_progress_review_overdue',
             CASE
                 WHEN l.progress_review_date IS NOT NULL
                     AND l.progress_review_date <= l.as_of_date THEN 0
                 WHEN NOT l.follow_up_recorded THEN NULL
                 ELSE greatest(0, date_diff('day', l.challenge_date + INTERVAL 15 MONTH,
                     l.as_of_date) / 30.44)
             END)
    ) AS m(indicator_id, value)
)
SELECT
    quarter,
    council_code,
    indicator_id,
    strftime(challenge_date, '%Y-%m-%d') AS period,
    challenge_date AS period_end,
    challenge_date AS published_date,
    value,
    CASE WHEN value IS NULL THEN 'follow-up not recorded' ELSE 'reported' END AS value_state,
    NULL::DOUBLE AS previous_value,
    source_path,
    source_row_number
FROM measured;
