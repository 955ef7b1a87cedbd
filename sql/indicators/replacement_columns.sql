-- The columns of the relation `replacement_rows` and their types.
SELECT column_name, column_type FROM (DESCRIBE replacement_rows);
