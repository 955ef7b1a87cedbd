-- raw/current_rows for one partition: the rows whose partition columns ({columns}, as a list)
-- match a `partition_key` of the registered relation `partition_keys` with the given partition
-- number (NULL matches NULL). $low, $high and $with_null bound the first partition column
-- ({first_column}) so that the scan skips row groups outside the partition (raw/partition_bounds).
-- The table and column names are catalogue identifiers.
SELECT
    r.*,
    l.period AS load_period,
    l.theme AS load_theme,
    l.published AS load_published
FROM {table} AS r
JOIN raw.current_loads AS c ON c.load_id = r.load_id AND c.source_id = $source_id
JOIN raw.loads AS l ON l.load_id = r.load_id
SEMI JOIN partition_keys AS k
    ON k.partition = $partition AND k.partition_key IS NOT DISTINCT FROM list_value({columns})
WHERE r.{first_column} BETWEEN $low AND $high OR ($with_null AND r.{first_column} IS NULL);
-- No ORDER BY: the caller puts the rows in file order in polars, which sorts one partition in
-- a third of the time DuckDB takes under the validated layer's memory limit.
