-- Every indicator's evaluation at every built quarter, for ranking councils by one indicator
-- alone in the backtest.
SELECT quarter, council_code, indicator_id, method, polarity, state, value
FROM scores.indicator_scores
WHERE method <> 'context' OR state = 'scored'
ORDER BY quarter, council_code, indicator_id;
