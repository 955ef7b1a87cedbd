SELECT
    count(*) AS links,
    count(DISTINCT council_code) FILTER (WHERE basis = 'published') AS published,
    count(DISTINCT council_code) FILTER (WHERE basis <> 'published') AS inherited
FROM indicators.peer_groups;
