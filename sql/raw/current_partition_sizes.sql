-- Rows per value of a source's partition columns ({columns}, as one list `partition_key`), in
-- the loads the latest run marked current: how the validated layer splits a source too big to
-- validate in one frame. The table and column names are catalogue identifiers.
SELECT list_value({columns}) AS partition_key, count(*) AS n_rows
FROM {table} AS r
JOIN raw.current_loads AS c ON c.load_id = r.load_id AND c.source_id = $source_id
GROUP BY ALL
ORDER BY ALL;
