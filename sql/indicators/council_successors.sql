-- Each abolished council and the council(s) that took over its area (register `replaced-by`).
CREATE OR REPLACE TABLE indicators.council_successors AS
SELECT DISTINCT
    r.gss_code AS predecessor,
    s.gss_code AS successor
FROM validated.council_register AS r,
    unnest(string_split(r.replaced_by, ',')) AS replaced(code)
JOIN validated.council_register AS s ON s.register_code = trim(replaced.code)
WHERE r.replaced_by IS NOT NULL;
