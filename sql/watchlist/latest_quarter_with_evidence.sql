-- The latest built quarter, up to $up_to, in which any council was flagged: with no fresh
-- public data the newest quarters can have none, and their briefing packs would be empty.
SELECT max(quarter) AS quarter
FROM watchlist.watchlist
WHERE n_flags > 0 AND quarter <= $up_to;
