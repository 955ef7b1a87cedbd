INSERT INTO raw.loads (
    load_id, source_id, source_path, file_sha256, file_bytes, row_count, loaded_at, run_id,
    period, theme, published, header_map
)
VALUES (
    $load_id, $source_id, $source_path, $file_sha256, $file_bytes, $row_count, $loaded_at, $run_id,
    $period, $theme, $published, $header_map
);
