-- The department's E-codes (used by finance returns) of register councils. An E-code that two
-- councils share cannot say which council a row means, so it is left out.
SELECT ecode AS code, min(gss_code) AS council_code
FROM validated.council_register
WHERE ecode IS NOT NULL
GROUP BY ecode
HAVING count(DISTINCT gss_code) = 1;
