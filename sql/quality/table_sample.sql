-- Every $stride-th row of a table, by a hash of its row id: the same rows on every run of the
-- same table. The table name comes from a fixed list in code (assets/quality.py SUITES).
SELECT * FROM {table} WHERE hash(rowid) % $stride = 0;
