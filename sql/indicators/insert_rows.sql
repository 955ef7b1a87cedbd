-- The table name is a fixed identifier chosen by the asset.
INSERT INTO {table} BY NAME SELECT * FROM replacement_rows;
