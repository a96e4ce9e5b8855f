"""Serving: the gateway (next), routing policies, and the inference log."""
