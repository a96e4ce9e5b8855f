"""Train the credit-risk model the safe way: split first, then fit one pipeline.

The preprocessing lives inside the ``Pipeline`` and is fitted on the training
split only; the split is stratified and seeded. ``mlpilot check`` finds nothing
to report here. Compare ``leaky_train.py``.

The demo records this file as run code; the package never imports it.

Usage: ``python clean_train.py [credit.csv]`` (default: the synthetic credit data).
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 0
TARGET = "default"
NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def load_data(path: str | None = None) -> pd.DataFrame:
    """The credit data from a CSV file, or generated."""
    if path:
        return pd.read_csv(path)
    from mlpilot.demo.credit import make_credit_data

    return make_credit_data(3000, seed=SEED)


def train(data: pd.DataFrame) -> tuple[Pipeline, dict[str, float]]:
    """Fit the model on ``data``; returns it with its held-out test metrics."""
    features = data[NUMERIC + CATEGORICAL]
    labels = data[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=SEED, stratify=labels)
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    model = Pipeline([("pre", pre), ("model", LogisticRegression(C=0.5, max_iter=500))])
    model.fit(X_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    return model, {"auc": float(auc)}


if __name__ == "__main__":
    _, metrics = train(load_data(sys.argv[1] if len(sys.argv) > 1 else None))
    print(metrics)
