"""mlpilot.cli."""
