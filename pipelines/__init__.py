"""Early Warning: the Dagster code location and its configuration."""

__version__ = "0.1.0"
