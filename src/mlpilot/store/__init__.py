"""mlpilot.store."""
