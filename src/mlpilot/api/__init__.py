"""mlpilot.api."""
