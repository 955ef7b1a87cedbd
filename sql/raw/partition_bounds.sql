-- The range of the first partition column within one partition (the registered relation
-- `partition_keys`), and whether it holds NULL: a filter DuckDB can check against each row
-- group's min and max, so a partition's read skips the rest of the table.
SELECT
    min(partition_key[1]) AS low,
    max(partition_key[1]) AS high,
    coalesce(bool_or(partition_key[1] IS NULL), false) AS with_null
FROM partition_keys
WHERE partition = $partition;
