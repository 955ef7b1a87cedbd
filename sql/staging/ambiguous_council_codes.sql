-- Codes left out of the code map because they point at more than one council.
SELECT code, list(DISTINCT council_code ORDER BY council_code) AS councils
FROM council_code_candidates
GROUP BY code
HAVING count(DISTINCT council_code) > 1;
