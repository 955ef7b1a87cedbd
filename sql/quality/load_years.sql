-- Distinct years in each of the given loads: the first year (19xx or 20xx) written in the
-- period or date column ("2019-20", "2019-02-15", "April to June 2019 (Q1)" are all 2019).
-- The table and the column are catalogue identifiers.
SELECT load_id, count(DISTINCT nullif(regexp_extract({column}, '(19|20)[0-9][0-9]', 0), '')) AS n
FROM {table}
WHERE load_id IN (SELECT unnest($load_ids))
GROUP BY load_id;
