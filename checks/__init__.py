"""Validation: pandera models per source, the quarantine engine and asset checks."""
