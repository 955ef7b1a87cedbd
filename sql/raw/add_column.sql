-- The table and column names are catalogue identifiers.
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} VARCHAR;
