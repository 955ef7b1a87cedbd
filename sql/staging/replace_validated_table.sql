-- The table name is a catalogue identifier; rows come from the relation `validated_rows`.
CREATE OR REPLACE TABLE {table} AS SELECT * FROM validated_rows;
