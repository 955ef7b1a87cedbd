SELECT code, list(DISTINCT council_code ORDER BY council_code) AS councils
FROM (
    SELECT gss_code AS code, council_code FROM validated.council_gss_lookup
    UNION ALL
    SELECT gss_code, gss_code FROM validated.council_register
)
GROUP BY code
HAVING count(DISTINCT council_code) > 1;
