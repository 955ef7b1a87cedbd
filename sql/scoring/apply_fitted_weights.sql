-- Fitted weights (the registered relation `fitted_weights`: quarter, indicator_id,
-- fitted_weight) replace the catalogue weights of the run's quarters; every contribution stays
-- weight x severity, so the score is still the sum of its explained contributions.
UPDATE scores.indicator_scores AS s
SET weight = f.fitted_weight, contribution = f.fitted_weight * s.severity
FROM fitted_weights AS f
WHERE s.quarter = f.quarter AND s.indicator_id = f.indicator_id;
