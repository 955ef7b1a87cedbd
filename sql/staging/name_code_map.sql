-- Every name a council goes by (the mySociety name lookup's variants, and the register's own
-- short and official names) with the council's GSS code. Registers transcribed from web pages
-- name councils rather than code them; the validation engine matches those names here.
SELECT name_variant AS code, council_code
FROM validated.council_name_lookup
UNION
SELECT council_name, gss_code FROM validated.council_register
UNION
SELECT official_name, gss_code FROM validated.council_register;
