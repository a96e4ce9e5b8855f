"""A synthetic, seeded credit-default dataset with a sensitive attribute.

Generated rather than downloaded (no network at run time). The label depends on
the features through a known logistic model plus noise, so models have a real
signal to find, and ``sex`` is a sensitive attribute correlated with income so
later fairness checks have something to measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = [
    "age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
    "employment_years", "purpose", "home_ownership", "sex",
]
TARGET = "default"
SENSITIVE = "sex"


def make_credit_data(n: int = 6000, *, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` applicants with the features above and a binary ``default`` label."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n, p=[0.48, 0.52])
    age = rng.integers(21, 75, size=n)
    employment_years = np.clip(rng.normal((age - 21) * 0.35, 3.0), 0, None).round(1)
    income = np.exp(rng.normal(10.6 + 0.08 * (sex == "male") + 0.006 * (age - 21), 0.45))
    income = income.round(-1)
    debt_ratio = np.clip(rng.beta(2.2, 5.0, size=n) + rng.normal(0, 0.03, size=n), 0, 1.5)
    credit_lines = rng.poisson(4.0, size=n)
    late_payments = rng.poisson(0.3 + 1.6 * debt_ratio, size=n)
    loan_amount = (income * rng.uniform(0.05, 0.6, size=n)).round(-1)
    purpose = rng.choice(["car", "home", "education", "business", "other"], size=n,
                         p=[0.3, 0.25, 0.15, 0.1, 0.2])
    home = rng.choice(["rent", "mortgage", "own"], size=n, p=[0.45, 0.4, 0.15])
    logit = (
        -2.2
        + 3.1 * (debt_ratio - 0.3)
        + 0.55 * late_payments
        - 0.9 * (np.log(income) - 10.6)
        + 1.2 * (loan_amount / income)
        - 0.03 * employment_years
        + 0.35 * (purpose == "business")
        - 0.25 * (home == "own")
        + 0.01 * np.maximum(0, 30 - age)
        # threshold effects and an interaction: what trees find and a linear model misses
        + 2.2 * (debt_ratio > 0.5)
        + 1.6 * ((late_payments >= 2) & (income < np.median(income)))
        - 1.5 * ((age > 50) & (home == "own"))
    )
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "age": age.astype("int64"),
        "income": income.astype("float64"),
        "debt_ratio": debt_ratio.round(4),
        "credit_lines": credit_lines.astype("int64"),
        "late_payments": late_payments.astype("int64"),
        "loan_amount": loan_amount.astype("float64"),
        "employment_years": employment_years.astype("float64"),
        "purpose": pd.Series(purpose, dtype="category"),
        "home_ownership": pd.Series(home, dtype="category"),
        "sex": pd.Series(sex, dtype="category"),
        TARGET: default.astype("int64"),
    })
