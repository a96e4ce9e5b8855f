"""`mlpilot demo`: generate data, train two tracked versions, register them with lineage.

Then the CI gates, then serving and progressive delivery (:mod:`mlpilot.demo.serving`),
then monitoring and diagnosis of drifted traffic (:mod:`mlpilot.demo.monitoring`);
later pillars (the autopilot) extend this same story.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.tree import Tree
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlpilot.core.entities import ModelVersion
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.demo.gates import run_gates, train_extra_candidates
from mlpilot.sdk._context import Context
from mlpilot.sdk._datasets import register_dataset
from mlpilot.sdk._registry import load, register
from mlpilot.sdk._tracking import ActiveRun, start_run

MODEL = "credit-risk"
NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


@dataclass(frozen=True)
class Candidate:
    name: str
    estimator: Any
    params: dict[str, Any]


def _candidates() -> list[Candidate]:
    logistic = LogisticRegression(C=0.5, max_iter=500)
    boosting = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=400, max_leaf_nodes=4, min_samples_leaf=80,
        l2_regularization=1.0, early_stopping=True, validation_fraction=0.15,
        n_iter_no_change=20, random_state=0,
    )
    return [
        Candidate("logistic-baseline", logistic, {"family": "logistic", "C": 0.5}),
        Candidate("gradient-boosting", boosting,
                  {"family": "hist_gradient_boosting", "learning_rate": 0.05, "max_iter": 400,
                   "max_leaf_nodes": 4, "min_samples_leaf": 80, "l2_regularization": 1.0}),
    ]


def _pipeline(estimator: Any) -> Pipeline:
    pre = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    return Pipeline([("pre", pre), ("model", estimator)])


def _evaluate(model: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    proba = model.predict_proba(X)[:, 1]
    return {
        "auc": float(roc_auc_score(y, proba)),
        "accuracy": float(accuracy_score(y, proba >= 0.5)),
        "log_loss": float(log_loss(y, proba)),
    }


def _train(candidate: Candidate, run: ActiveRun, train: pd.DataFrame,
           holdout: pd.DataFrame) -> tuple[Pipeline, dict[str, float]]:
    model = _pipeline(candidate.estimator)
    run.log_params({**candidate.params, "features": len(FEATURES), "rows": len(train)})
    model.fit(train[FEATURES], train[TARGET])
    est = model.named_steps["model"]
    # Learning curves become metric series (one point per boosting iteration).
    for step, (tr, va) in enumerate(zip(getattr(est, "train_score_", []),
                                        getattr(est, "validation_score_", []), strict=False)):
        run.log_metrics({"train_loss": -float(tr), "validation_loss": -float(va)}, step=step)
    metrics = _evaluate(model, holdout[FEATURES], holdout[TARGET])
    run.log_metrics(metrics)
    return model, metrics


def run_demo(context: Context, console: Console | None = None, *,
             serving: bool = True, monitoring: bool = True) -> list[ModelVersion]:
    """Run the demo against ``context`` and print what it did; returns the new versions.

    Args:
        context: the stores to fill.
        console: where the story is told (default: stdout).
        serving: also serve over HTTP on 127.0.0.1, canary the best candidate to
            production and roll back a broken one (see :mod:`mlpilot.demo.serving`).
        monitoring: after serving, send normal then drifted traffic, monitor it and
            diagnose the alert it raises (see :mod:`mlpilot.demo.monitoring`).
    """
    console = console or Console()
    console.rule("[bold]mlpilot demo[/bold] — credit risk")
    data = make_credit_data(6000, seed=7)
    train, holdout = train_test_split(data, test_size=0.25, random_state=7,
                                      stratify=data[TARGET])
    holdout_ds = register_dataset(holdout, "credit-holdout", context=context,
                                  description="25 % stratified holdout of the synthetic data")
    console.print(f"Generated {len(data):,} synthetic applicants "
                  f"({data[TARGET].mean():.1%} default); holdout snapshot {holdout_ds.id[:8]}.")

    versions: list[ModelVersion] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Training", total=len(_candidates()))
        for candidate in _candidates():
            progress.update(task, description=f"Training {candidate.name}")
            with start_run(name=candidate.name, model=MODEL, context=context,
                           tags={"source": "mlpilot demo"}) as run:
                model, metrics = _train(candidate, run, train, holdout)
                run.log_dataset(holdout, "credit-holdout", role="validation")
                version = register(
                    model, MODEL, run=run, training_data=train.drop(columns=[TARGET]),
                    metrics=metrics, description=f"{candidate.name} on synthetic credit data",
                    parent_version=versions[-1].version if versions else None,
                    context=context,
                )
            versions.append(version)
            progress.advance(task)

    store = context.store
    first, best = versions[0], max(versions, key=lambda v: v.metrics["auc"])
    store.set_alias(MODEL, "production", first.version, reason="demo: baseline goes first")
    if best.version != first.version:
        store.set_alias(MODEL, "candidate", best.version,
                        reason=f"demo: best holdout AUC {best.metrics['auc']:.3f}")
    _verify_round_trip(context, f"{MODEL}@production", holdout)
    _report(console, context, versions)

    console.rule("[bold]CI for ML[/bold] — the gates a candidate must pass")
    refs = {"good": f"{MODEL}/{best.version}",
            **train_extra_candidates(context, train, holdout, _pipeline)}
    run_gates(context, console, refs)
    if serving and best.version != first.version:
        from mlpilot.demo.serving import run_serving  # uvicorn and httpx load only here

        run_serving(context, console, train, holdout, _pipeline, best.version)
        if monitoring:
            from mlpilot.demo.monitoring import run_monitoring

            run_monitoring(context, console, holdout)
    return [store.get_version(MODEL, v.version) for v in versions]


def _verify_round_trip(context: Context, ref: str, holdout: pd.DataFrame) -> None:
    loaded = load(ref, context=context)
    proba = loaded.predict_proba(holdout[FEATURES])
    if proba is None or not np.all(np.isfinite(proba)):
        raise RuntimeError(f"{ref} did not give finite probabilities after loading")


def _report(console: Console, context: Context, versions: list[ModelVersion]) -> None:
    store = context.store
    table = Table(title=f"Model '{MODEL}'", show_lines=False)
    for col in ("version", "aliases", "auc", "accuracy", "log loss", "run", "artifact"):
        table.add_column(col)
    for v in versions:
        v = store.get_version(MODEL, v.version)
        table.add_row(str(v.version), ", ".join(v.aliases) or "—", f"{v.metrics['auc']:.3f}",
                      f"{v.metrics['accuracy']:.3f}", f"{v.metrics['log_loss']:.3f}",
                      (v.run_id or "")[:8], v.artifact_digest[7:19])
    console.print(table)
    lin = store.lineage(MODEL, versions[-1].version)
    tree = Tree(f"[bold]lineage of {lin.version.ref}[/bold]")
    for ds in lin.datasets:
        tree.add(f"dataset {ds.name} ({ds.num_rows:,} rows, {ds.id[:8]})")
    if lin.run:
        tree.add(f"run {lin.run.name} ({lin.run.id[:8]}, {len(lin.run.params)} params)")
    if lin.parent:
        tree.add(f"derived from {lin.parent.ref}")
    console.print(tree)
    console.print(f"Everything is stored under [bold]{context.settings.home}[/bold]. Try:\n"
                  f"  mlpilot models\n  mlpilot versions {MODEL}\n"
                  f"  mlpilot lineage {MODEL}@production\n  mlpilot compare {MODEL} 1 2\n"
                  "  mlpilot api   # then open http://127.0.0.1:8080/docs")
