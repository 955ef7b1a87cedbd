-- The names the capital outturn series uses, matched beside the register's (staging/name_code_map,
-- which the validation engine adds to these rows):
-- the series' own lookup (capital_outturn/la_names_lookup.csv) maps each spelling it has used to
-- a standard name, so every spelling of a council stands for the council that any of its
-- spellings names in the register ("South Buckinghamshire" is "South Bucks" there). Spellings are
-- compared without case, a trailing "UA" or "Council", "&" or punctuation.
WITH register_names AS (
    SELECT name_variant AS name, council_code FROM validated.council_name_lookup
    UNION ALL
    SELECT council_name, gss_code FROM validated.council_register
    UNION ALL
    SELECT official_name, gss_code FROM validated.council_register
),
keyed AS (
    SELECT
        regexp_replace(
            replace(regexp_replace(lower(trim(name)), '\s+(ua|council)$', ''), '&', 'and'),
            '[^a-z0-9]', '', 'g'
        ) AS name_key,
        council_code
    FROM register_names
    WHERE name IS NOT NULL
),
lookup AS (
    SELECT
        original_name,
        continuity_name,
        regexp_replace(
            replace(regexp_replace(lower(trim(original_name)), '\s+(ua|council)$', ''), '&', 'and'),
            '[^a-z0-9]', '', 'g'
        ) AS variant_key
    FROM validated.capital_outturn_name_lookup
),
variants AS (
    SELECT DISTINCT l.original_name AS name, k.council_code
    FROM lookup AS l
    JOIN lookup AS sibling ON sibling.continuity_name = l.continuity_name
    JOIN keyed AS k ON k.name_key = sibling.variant_key
)
SELECT DISTINCT
    v.name AS code,
    v.council_code,
    r.start_date,
    r.end_date
FROM variants AS v
JOIN validated.council_register AS r ON r.gss_code = v.council_code
WHERE v.name IS NOT NULL;
