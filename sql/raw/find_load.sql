SELECT load_id, row_count, loaded_at
FROM raw.loads
WHERE source_id = $source_id AND file_sha256 = $file_sha256;
