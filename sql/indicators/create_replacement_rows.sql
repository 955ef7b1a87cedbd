-- Prefixed to a step's query (assets/point_in_time.replace_quarters_with_query): its rows are
-- kept once in a temporary table, which the replacement reads and the step summarises.
CREATE OR REPLACE TEMP TABLE replacement_rows AS
