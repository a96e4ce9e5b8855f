"""Entities, errors, names, clock and settings shared by every mlpilot component."""
