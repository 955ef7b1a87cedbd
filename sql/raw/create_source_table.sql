-- One raw table per source. The table and column names are catalogue identifiers, checked first.
CREATE TABLE IF NOT EXISTS {table} (
    load_id           VARCHAR NOT NULL,
    source_path       VARCHAR NOT NULL,
    file_sha256       VARCHAR NOT NULL,
    loaded_at         TIMESTAMP NOT NULL,
    source_row_number BIGINT NOT NULL,
    source_column     VARCHAR,
    {columns},
    extra             JSON
);
