"""Early Warning: the Dagster code location and its configuration."""

import warnings

__version__ = "0.1.0"

# Single-run backfills (BackfillPolicy) are marked beta in Dagster; they are what lets a range
# of quarters run as one set-based step, so the notice is silenced once here rather than
# repeated in every log.
warnings.filterwarnings("ignore", message=".*backfill_policy.*")
