"""mlpilot.demo."""
