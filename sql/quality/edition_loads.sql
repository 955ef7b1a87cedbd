-- For each file of a source: the load the latest run marked current, and the edition it
-- replaced: the most recently loaded other load of the same path (none for a first edition).
WITH current_load AS (
    SELECT l.*
    FROM raw.current_loads AS c
    JOIN raw.loads AS l ON l.load_id = c.load_id
    WHERE c.source_id = $source_id
),
other_load AS (
    SELECT
        l.*,
        row_number() OVER (PARTITION BY l.source_path ORDER BY l.loaded_at DESC) AS recency
    FROM raw.loads AS l
    JOIN current_load AS cur
        ON l.source_id = cur.source_id
        AND l.source_path = cur.source_path
        AND l.load_id <> cur.load_id
)
SELECT
    cur.source_path,
    cur.load_id,
    cur.file_sha256,
    cur.loaded_at,
    cur.row_count,
    o.load_id AS previous_load_id,
    o.file_sha256 AS previous_file_sha256,
    o.loaded_at AS previous_loaded_at,
    o.row_count AS previous_row_count
FROM current_load AS cur
LEFT JOIN other_load AS o ON o.source_path = cur.source_path AND o.recency = 1
ORDER BY cur.source_path;
