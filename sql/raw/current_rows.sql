-- The rows of the loads the latest run marked current for one source, with their load's context.
-- The table name is a catalogue identifier.
SELECT
    r.*,
    l.period AS load_period,
    l.theme AS load_theme,
    l.published AS load_published
FROM {table} AS r
JOIN raw.current_loads AS c ON c.load_id = r.load_id AND c.source_id = $source_id
JOIN raw.loads AS l ON l.load_id = r.load_id
ORDER BY r.source_path, r.source_row_number, r.source_column;
