-- Every council name a source may use, mapped to the register's council code: the register's
-- official and common names, mySociety's name variants, and the capital outturn series' own
-- variants through the standard name they stand for. Names are compared without case, a
-- trailing "UA" or "Council", "&" or punctuation (the same rule as normalise_name in
-- checks/schemas/debt.py); the validation engine leaves out a name that points at two councils.
-- The only source named this way (capital outturn) ends in 2019-20, so councils created after
-- it are left out: "Somerset" there is the county council, not the 2023 unitary.
WITH register_names AS (
    SELECT l.name_variant AS name, l.council_code
    FROM validated.council_name_lookup AS l
    JOIN validated.council_register AS r ON r.gss_code = l.council_code
    WHERE r.start_date IS NULL OR r.start_date <= DATE '2020-03-31'
    UNION ALL
    SELECT official_name, gss_code FROM validated.council_register
    WHERE start_date IS NULL OR start_date <= DATE '2020-03-31'
    UNION ALL
    SELECT council_name, gss_code FROM validated.council_register
    WHERE start_date IS NULL OR start_date <= DATE '2020-03-31'
),
normalised AS (
    SELECT
        regexp_replace(
            replace(regexp_replace(lower(trim(name)), '\s+(ua|council)$', ''), '&', 'and'),
            '[^a-z0-9]', '', 'g'
        ) AS name_key,
        council_code
    FROM register_names
    WHERE name IS NOT NULL
),
-- A standard name of the series stands for the council that any of its variants names in
-- the register ("South Buckinghamshire" is "South Bucks" there).
lookup AS (
    SELECT
        original_name,
        continuity_name,
        regexp_replace(
            replace(regexp_replace(lower(trim(original_name)), '\s+(ua|council)$', ''), '&', 'and'),
            '[^a-z0-9]', '', 'g'
        ) AS variant_key
    FROM validated.capital_outturn_name_lookup
)
SELECT name AS code, council_code FROM register_names WHERE name IS NOT NULL
UNION ALL
SELECT DISTINCT l.original_name AS code, n.council_code
FROM lookup AS l
JOIN lookup AS sibling ON sibling.continuity_name = l.continuity_name
JOIN normalised AS n ON n.name_key = sibling.variant_key;
