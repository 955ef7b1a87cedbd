-- Every code a source may use for a council, with the register council it points at: the
-- council's own GSS code, its former GSS codes, and the GSS lookup's entries.
CREATE OR REPLACE TEMP VIEW council_code_candidates AS
SELECT gss_code AS code, gss_code AS council_code, 'register code' AS how
FROM validated.council_register
UNION ALL
SELECT trim(former.code), r.gss_code, 'former code in register'
FROM validated.council_register AS r,
    unnest(string_split(r.former_gss_codes, ',')) AS former(code)
WHERE r.former_gss_codes IS NOT NULL AND trim(former.code) <> ''
UNION ALL
SELECT gss_code, council_code, 'GSS lookup'
FROM validated.council_gss_lookup;
