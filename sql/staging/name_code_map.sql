-- Every name a source may use for a council, reduced as checks.validation.council_name_key
-- reduces a source's names (upper case, `&` read as AND, other characters one space), with the
-- register council it means: the register's own names and the name lookup's variants. A name
-- that means two councils is left out by the engine (it cannot say which is meant).
WITH names AS (
    SELECT name_variant AS name, council_code FROM validated.council_name_lookup
    UNION ALL
    SELECT council_name, gss_code FROM validated.council_register
    UNION ALL
    SELECT official_name, gss_code FROM validated.council_register
)
SELECT DISTINCT
    trim(regexp_replace(replace(upper(name), '&', ' AND '), '[^A-Z0-9]+', ' ', 'g')) AS code,
    council_code
FROM names
WHERE name IS NOT NULL;
