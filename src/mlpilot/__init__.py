"""mlpilot: an autopilot for ML models in production."""
__version__ = "0.1.0"
