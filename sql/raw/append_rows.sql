-- The table name is a catalogue identifier. the rows come from the registered relation `incoming`.
INSERT INTO {table} BY NAME
SELECT
    $load_id AS load_id,
    $source_path AS source_path,
    $file_sha256 AS file_sha256,
    $loaded_at AS loaded_at,
    incoming.*
FROM incoming;
