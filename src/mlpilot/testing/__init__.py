"""mlpilot.testing."""
