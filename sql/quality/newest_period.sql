-- The table and its period column come from checks/freshness.py RULES, never from input.
SELECT count(*) AS n, max({column}) AS newest FROM {table};
