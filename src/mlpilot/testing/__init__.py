"""Helpers for testing code built on mlpilot: throw-away stores on every backend."""

from mlpilot.testing._stores import BACKENDS, pg_url, temporary_store_url

__all__ = ["BACKENDS", "pg_url", "temporary_store_url"]
