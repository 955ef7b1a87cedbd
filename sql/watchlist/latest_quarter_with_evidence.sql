-- The latest built quarter in which any council was flagged: with no fresh public data the
-- newest quarters can have none, and their briefing packs would be empty.
SELECT max(quarter) AS quarter
FROM watchlist.watchlist
WHERE n_flags > 0;
