-- The analysts' soft-intelligence notes a briefing pack may show: only notes marked shareable
-- (a note whose shareability was not a clear yes or no never reached the validated table),
-- for the given councils, dated on or before the quarter's as-of date (a pack shows only what
-- was known then). Non-shareable notes are never selected, so they cannot reach a pack.
-- Input: validated.analyst_notes. Parameters: $as_of_date, $councils (a list of GSS codes).
SELECT council_code, note_date, category, note
FROM validated.analyst_notes
WHERE shareable IS TRUE
    AND note_date <= $as_of_date
    AND list_contains($councils, council_code)
ORDER BY council_code, note_date DESC, source_path, source_row_number;
