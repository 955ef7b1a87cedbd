-- The raw layer: every file ever loaded, row for row, never updated or deleted.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.loads (
    load_id           VARCHAR PRIMARY KEY,
    source_id         VARCHAR NOT NULL,
    source_path       VARCHAR NOT NULL,
    file_sha256       VARCHAR NOT NULL,
    file_bytes        BIGINT NOT NULL,
    row_count         BIGINT NOT NULL,
    loaded_at         TIMESTAMP NOT NULL,
    run_id            VARCHAR,
    period            VARCHAR,
    theme             VARCHAR,
    published         DATE,
    header_map        JSON,
    UNIQUE (source_id, source_path, file_sha256)
);

-- Which load of each configured file the latest run read: a pointer, replaced each run.
CREATE TABLE IF NOT EXISTS raw.current_loads (
    source_id   VARCHAR NOT NULL,
    source_path VARCHAR NOT NULL,
    load_id     VARCHAR NOT NULL,
    marked_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (source_id, source_path)
);
