-- The table name is a catalogue identifier.
SELECT count(*) FROM {table};
