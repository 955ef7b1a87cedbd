-- The files the current validated layer was built from, in a stable order.
SELECT c.source_id, c.source_path, l.file_sha256
FROM raw.current_loads AS c
JOIN raw.loads AS l ON l.load_id = c.load_id
ORDER BY c.source_id, c.source_path;
