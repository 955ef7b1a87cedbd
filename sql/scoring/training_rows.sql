-- Every scored council-quarter's severities already in the warehouse, for fitting weights
-- point in time (assets/fitted_weights.py keeps only those fully observed by each as-of date).
SELECT quarter, as_of_date, council_code, indicator_id, method, severity
FROM scores.indicator_scores
WHERE state = 'scored' AND method <> 'context';
