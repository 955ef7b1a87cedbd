-- Every name a council goes by (the mySociety name lookup's variants, and the register's own
-- short and official names) with the council's GSS code and the dates it was in being.
-- Registers transcribed from web pages and files that name councils rather than code them are
-- matched here by checks.validation._resolve_names, which reduces both sides the same way
-- (case, punctuation, then generic words) and uses the dates where two councils bore a name.
WITH names AS (
    SELECT name_variant AS name, council_code FROM validated.council_name_lookup
    UNION ALL
    SELECT council_name, gss_code FROM validated.council_register
    UNION ALL
    SELECT official_name, gss_code FROM validated.council_register
)
SELECT DISTINCT
    n.name AS code,
    n.council_code,
    r.start_date,
    r.end_date
FROM names AS n
JOIN validated.council_register AS r ON r.gss_code = n.council_code
WHERE n.name IS NOT NULL;
