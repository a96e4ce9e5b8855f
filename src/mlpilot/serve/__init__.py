"""Serving: the gateway (Open Inference Protocol v2, simple JSON), routing, inference log."""
