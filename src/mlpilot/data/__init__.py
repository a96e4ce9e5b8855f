"""mlpilot.data."""
