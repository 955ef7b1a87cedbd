-- No rows: only the columns of the relation `replacement_rows`.
SELECT * FROM replacement_rows LIMIT 0;
