-- Where a register row says its fact was read: the page (source_url) and the phrase, keyed by
-- the row's file and line, so a flag raised from a register links its source. Only http(s)
-- addresses (the schemas check it); a row without one has no citation here.
-- Inputs: validated.audit_findings, validated.peer_challenges, validated.best_value_notices.
CREATE OR REPLACE TEMP VIEW citations AS
SELECT source_path, source_row_number, source_url, exact_phrase
FROM validated.audit_findings
UNION ALL
SELECT source_path, source_row_number, source_url, exact_phrase
FROM validated.peer_challenges
UNION ALL
SELECT source_path, source_row_number, source_url, exact_phrase
FROM validated.best_value_notices;
