-- Each candidate code (staging/code_candidates) mapped to the register's code for its council.
-- A code that would map to two councils is ambiguous and left out (reported in metadata).
CREATE OR REPLACE TABLE validated.council_code_map AS
SELECT
    code,
    min(council_code) AS council_code,
    string_agg(DISTINCT how, '; ' ORDER BY how) AS how
FROM council_code_candidates
GROUP BY code
HAVING count(DISTINCT council_code) = 1;
