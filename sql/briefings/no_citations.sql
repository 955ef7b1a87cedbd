-- No register citations (a warehouse built before the registers carried them): the evidence
-- query's join then finds nothing and every flag keeps its file and row as its source.
CREATE OR REPLACE TEMP VIEW citations AS
SELECT
    NULL::VARCHAR AS source_path,
    NULL::BIGINT AS source_row_number,
    NULL::VARCHAR AS source_url,
    NULL::VARCHAR AS exact_phrase
WHERE false;
