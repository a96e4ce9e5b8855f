"""The public SDK behind ``import mlpilot``."""
