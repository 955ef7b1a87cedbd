-- Distinct councils in each of the given loads. The table and the council code column are
-- catalogue identifiers.
SELECT load_id, count(DISTINCT {column}) AS n
FROM {table}
WHERE load_id IN (SELECT unnest($load_ids))
GROUP BY load_id;
