-- The table name and the column's name and type are fixed identifiers chosen by the asset.
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column_with_type};
