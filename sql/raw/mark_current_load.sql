INSERT OR REPLACE INTO raw.current_loads (source_id, source_path, load_id, marked_at)
VALUES ($source_id, $source_path, $load_id, now());
