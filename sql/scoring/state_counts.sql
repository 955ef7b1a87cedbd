-- What a scoring run produced (the temporary table `replacement_rows`), for the asset's metadata.
SELECT state, count(*) AS rows, sum(CASE WHEN flagged THEN 1 ELSE 0 END) AS flags
FROM replacement_rows
GROUP BY state
ORDER BY rows DESC, state;
