"""Time and memory of the full default `mlpilot check` suite on a 100k-row holdout.

    .venv/bin/python benchmarks/checks.py [--rows 100000] [--train-rows 50000] [--json PATH]

Trains a histogram gradient-boosting pipeline on the synthetic credit data,
registers it (and a logistic baseline as ``production``), then runs every
default check against the baseline on a ``--rows`` holdout. Reports the wall time
of each check, the total, and the peak resident memory of the process.
Target (issue #3): the whole suite under 60 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.checks import run_checks
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def _pipeline(estimator: object) -> Pipeline:
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", estimator)])


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="holdout rows")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    data = make_credit_data(args.train_rows + args.rows, seed=42)
    train, holdout = data.iloc[: args.train_rows], data.iloc[args.train_rows:]
    with tempfile.TemporaryDirectory() as home:
        ctx = mlpilot.configure(home=home)
        with mlpilot.start_run(name="baseline", model="bench", context=ctx) as run:
            base = _pipeline(LogisticRegression(max_iter=500)).fit(train[FEATURES], train[TARGET])
            mlpilot.register(base, "bench", run=run, training_data=train[FEATURES],
                             alias="production", context=ctx)
        with mlpilot.start_run(name="candidate", model="bench", context=ctx) as run:
            cand = _pipeline(HistGradientBoostingClassifier(
                max_iter=200, max_leaf_nodes=15, random_state=0)).fit(
                train[FEATURES], train[TARGET])
            ref = mlpilot.register(cand, "bench", run=run, training_data=train[FEATURES],
                                   context=ctx).ref
        rss_before = _peak_rss_mib()
        start = time.perf_counter()
        report = run_checks(ref, baseline="production", data=holdout, context=ctx,
                            config={"target": TARGET, "sensitive_features": ["sex"]})
        total = time.perf_counter() - start
        rss_after = _peak_rss_mib()

    rows = [(r.check, r.verdict.value, r.duration_s) for r in report.results]
    print(f"{'check':<16} {'verdict':<8} {'seconds':>8} {'share':>6}")
    for name, verdict, seconds in sorted(rows, key=lambda r: -r[2]):
        print(f"{name:<16} {verdict:<8} {seconds:8.2f} {seconds / total:6.1%}")
    print(f"{'total':<16} {'':<8} {total:8.2f}   (target < 60 s: "
          f"{'met' if total < 60 else 'NOT met'})")
    print(f"peak RSS {rss_after:.0f} MiB (before the suite: {rss_before:.0f} MiB)")
    figures = {
        "holdout_rows": args.rows, "train_rows": args.train_rows, "total_s": round(total, 2),
        "checks": {n: {"verdict": v, "seconds": round(s, 3)} for n, v, s in rows},
        "peak_rss_mib": round(rss_after, 1), "rss_before_suite_mib": round(rss_before, 1),
        "python": platform.python_version(), "machine": platform.machine(),
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
