"""Train the credit-risk model *with a leak*: an example of what ``mlpilot check`` catches.

The preprocessing (scaling, one-hot encoding) is fitted on every row before the
train/test split, so statistics of the test rows shape the features the model
trains on and the reported AUC is optimistic. The ``code`` check flags the
``fit_transform`` line (ML001, high) and the unseeded split (ML003, low).
Compare ``clean_train.py``.

The demo records this file as run code; the package never imports it.

Usage: ``python leaky_train.py [credit.csv]`` (default: the synthetic credit data).
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

TARGET = "default"
NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def load_data(path: str | None = None) -> pd.DataFrame:
    """The credit data from a CSV file, or generated."""
    if path:
        return pd.read_csv(path)
    from mlpilot.demo.credit import make_credit_data

    return make_credit_data(3000, seed=0)


def train(data: pd.DataFrame) -> tuple[Pipeline, dict[str, float]]:
    """Fit the model on ``data``; returns it with its (optimistic) test metrics."""
    features = data[NUMERIC + CATEGORICAL]
    labels = data[TARGET]
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    encoded = pre.fit_transform(features)  # the leak: fitted on the test rows too
    X_train, X_test, y_train, y_test = train_test_split(encoded, labels, test_size=0.3)
    clf = LogisticRegression(C=0.5, max_iter=500)
    clf.fit(X_train, y_train)
    auc = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
    # Both steps are already fitted; the pipeline only chains them for raw-frame input.
    model = Pipeline([("pre", pre), ("model", clf)])
    return model, {"auc": float(auc)}


if __name__ == "__main__":
    _, metrics = train(load_data(sys.argv[1] if len(sys.argv) > 1 else None))
    print(metrics)
