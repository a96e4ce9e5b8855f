"""mlpilot.formats."""
