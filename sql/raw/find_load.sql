-- A file counts as already loaded when the same source path held the same bytes before;
-- the same bytes under another path (a file republished under a new name) are a load of their own.
SELECT load_id, row_count, loaded_at
FROM raw.loads
WHERE source_id = $source_id AND source_path = $source_path AND file_sha256 = $file_sha256;
