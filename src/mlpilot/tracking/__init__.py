"""mlpilot.tracking."""
