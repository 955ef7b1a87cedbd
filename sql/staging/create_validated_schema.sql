CREATE SCHEMA IF NOT EXISTS validated;

-- Every raw row that did not pass validation, with the reason; rebuilt per source each run
-- from the raw layer, which keeps the rows themselves.
CREATE TABLE IF NOT EXISTS validated.quarantine (
    source_id         VARCHAR NOT NULL,
    load_id           VARCHAR NOT NULL,
    source_path       VARCHAR NOT NULL,
    source_row_number BIGINT NOT NULL,
    source_column     VARCHAR,
    column_name       VARCHAR,
    check_name        VARCHAR NOT NULL,
    failure_value     VARCHAR,
    disposition       VARCHAR NOT NULL,
    reason            VARCHAR,
    quarantined_at    TIMESTAMP NOT NULL DEFAULT now()
);
