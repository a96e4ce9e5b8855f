"""The drift gauntlet: seeded drift scenarios with known change points and delayed labels,
retraining strategies and drift detectors compared on the same streams.

Run ``python -m benchmarks.gauntlet.run [--quick] [--json PATH]`` from the repository root.
"""
