-- The department's E-codes (used by finance returns) of register councils.
SELECT ecode AS code, gss_code AS council_code
FROM validated.council_register
WHERE ecode IS NOT NULL;
