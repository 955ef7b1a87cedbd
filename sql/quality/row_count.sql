-- The table name comes from a fixed list in code (assets/quality.py SUITES).
SELECT count(*) AS n FROM {table};
