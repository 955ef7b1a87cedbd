-- Every name a source may use for a council, reduced as checks.validation.council_name_key
-- reduces a source's names (upper case, `&` read as AND, other characters one space), with the
-- register council it means and that council's dates: the register's own names and the name
-- lookup's variants. A name that means two councils is resolved by the row's date where the
-- source says which date a row speaks of, and rejected otherwise.
WITH names AS (
    SELECT name_variant AS name, council_code FROM validated.council_name_lookup
    UNION ALL
    SELECT council_name, gss_code FROM validated.council_register
    UNION ALL
    SELECT official_name, gss_code FROM validated.council_register
)
SELECT DISTINCT
    trim(regexp_replace(replace(upper(n.name), '&', ' AND '), '[^A-Z0-9]+', ' ', 'g')) AS code,
    n.council_code,
    r.start_date,
    r.end_date
FROM names AS n
JOIN validated.council_register AS r ON r.gss_code = n.council_code
WHERE n.name IS NOT NULL;
