-- Nearest-neighbour peer groups mapped onto the register. A council with no published list
-- (created after the list was made) inherits its predecessors' lists. Neighbours are kept as
-- published; scoring resolves an abolished neighbour to its successors at each as-of date.
CREATE OR REPLACE TABLE indicators.peer_groups AS
WITH published AS (
    SELECT n.council_code, trim(upper(neighbour.code)) AS neighbour_code
    FROM validated.nearest_neighbours AS n,
        unnest(n.neighbours) AS neighbour(code)
),
inherited AS (
    SELECT s.successor AS council_code, p.neighbour_code,
        'inherited from ' || string_agg(DISTINCT s.predecessor, ', ')
            OVER (PARTITION BY s.successor) AS basis
    FROM indicators.council_successors AS s
    JOIN published AS p ON p.council_code = s.predecessor
    WHERE s.successor NOT IN (SELECT council_code FROM published)
)
SELECT DISTINCT council_code, neighbour_code, 'published' AS basis
FROM published
WHERE neighbour_code <> council_code
UNION
SELECT DISTINCT council_code, neighbour_code, basis
FROM inherited
WHERE neighbour_code <> council_code;
