-- The table name is a fixed identifier chosen by the asset; its columns follow the rows.
CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM replacement_rows LIMIT 0;
