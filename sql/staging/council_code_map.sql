-- Every code a source may use for a council, mapped to the register's code for it:
-- the council's own GSS code, its former GSS codes, and the GSS lookup's entries.
-- A code that would map to two councils is ambiguous and left out (reported in metadata).
CREATE OR REPLACE TABLE validated.council_code_map AS
WITH candidates AS (
    SELECT gss_code AS code, gss_code AS council_code, 'register code' AS how
    FROM validated.council_register
    UNION ALL
    SELECT trim(former.code), r.gss_code, 'former code in register'
    FROM validated.council_register AS r,
        unnest(string_split(r.former_gss_codes, ',')) AS former(code)
    WHERE r.former_gss_codes IS NOT NULL AND trim(former.code) <> ''
    UNION ALL
    SELECT gss_code, council_code, 'GSS lookup'
    FROM validated.council_gss_lookup
)
SELECT
    code,
    min(council_code) AS council_code,
    string_agg(DISTINCT how, '; ' ORDER BY how) AS how
FROM candidates
GROUP BY code
HAVING count(DISTINCT council_code) = 1;
