"""The demo's CI stage: a good candidate is blessed, a biased one and a leaky one are not."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import HistGradientBoostingClassifier

from mlpilot.checks import CheckReport, run_checks
from mlpilot.demo.credit import FEATURES, TARGET
from mlpilot.reports import write_reports
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import register
from mlpilot.sdk._tracking import start_run

SCRIPTS = Path(__file__).with_name("scripts")

#: What a team would put in checks.yaml for this model.
DEMO_CHECKS: dict[str, Any] = {
    "target": TARGET,
    "sensitive_features": ["sex"],
    "seed": 0,
    "checks": {
        "performance": {"metric": "roc_auc", "margin": 0.01, "n_bootstrap": 500,
                        "slices": ["purpose"]},
        "fairness": {"max_dp_difference": 0.1, "min_dp_ratio": 0.8, "max_eo_difference": 0.1},
        "explainability": {"max_rows": 150, "background": 50},
        "robustness": {"max_cases": 200},
        # a laptop or CI runner shares its cores: keep the latency budget generous here
        "budgets": {"max_latency_p99_ms": 1000, "max_batch_s": 5},
        # this team treats leakage in training code as a release blocker
        "code": {"severity": "blocking", "fail_on": "high"},
    },
}


def _biased_training_set(train: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Labels corrupted against one group: 35 % of women relabelled as defaulters."""
    rng = np.random.default_rng(seed)
    biased = train.copy()
    flip = (biased["sex"] == "female").to_numpy() & (rng.random(len(biased)) < 0.35)
    biased.loc[flip, TARGET] = 1
    return biased


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"mlpilot_demo_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None  # the package ships the scripts
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_extra_candidates(context: Context, train: pd.DataFrame, holdout: pd.DataFrame,
                           make_pipeline: Any) -> dict[str, str]:
    """Register the two candidates that must not pass; returns {role: reference}."""
    refs = {}
    with start_run(name="biased-labels", model="credit-risk", context=context,
                   tags={"source": "mlpilot demo", "story": "biased"}) as run:
        biased = _biased_training_set(train)
        model = make_pipeline(HistGradientBoostingClassifier(
            max_iter=200, max_leaf_nodes=4, min_samples_leaf=80, random_state=0))
        model.fit(biased[FEATURES], biased[TARGET])
        run.log_params({"family": "hist_gradient_boosting", "label_noise": "female +35%"})
        run.log_dataset(holdout, "credit-holdout", role="validation")
        refs["biased"] = register(model, "credit-risk", run=run,
                                  training_data=biased.drop(columns=[TARGET]),
                                  description="trained on labels biased against women",
                                  context=context).ref
    leaky = _load_script("leaky_train")
    with start_run(name="leaky-script", model="credit-risk", context=context,
                   code_paths=[SCRIPTS / "leaky_train.py"],
                   tags={"source": "mlpilot demo", "story": "leaky"}) as run:
        model, metrics = leaky.train(train)
        run.log_metrics(metrics)
        run.log_dataset(holdout, "credit-holdout", role="validation")
        refs["leaky"] = register(model, "credit-risk", run=run,
                                 training_data=train.drop(columns=[TARGET]),
                                 description="trained by a script that leaks test statistics",
                                 context=context).ref
    return refs


def run_gates(context: Context, console: Console, refs: dict[str, str]) -> dict[str, CheckReport]:
    """Check each candidate against production; print a verdict table and the report paths."""
    reports: dict[str, CheckReport] = {}
    table = Table(title="mlpilot check — candidates against production")
    for col in ("candidate", "story", "verdict", "blocking failures", "warnings"):
        table.add_column(col, overflow="fold")
    written: dict[str, Path] = {}
    for story, ref in refs.items():
        with console.status(f"Checking {ref} ({story})"):
            report = run_checks(ref, baseline="production", config=DEMO_CHECKS, context=context)
        version = context.store.resolve(ref)
        out = context.settings.home / "reports" / version.model / str(version.version)
        paths = write_reports(report, version, out, context.store)
        reports[story] = report
        warned = [r.check for r in report.results if r.verdict.value == "warn"]
        table.add_row(ref, story, "[green]blessed[/]" if report.blessed else "[red]NOT blessed[/]",
                      ", ".join(r.check for r in report.blocking_failures) or "—",
                      ", ".join(warned) or "—")
        written[ref] = paths["report.html"].parent
    console.print(table)
    for ref, folder in written.items():
        console.print(f"  {ref}: report and model card in {folder}")
    leaky = reports.get("leaky")
    if leaky is not None:
        findings = leaky.get("code").evidence.get("findings", [])
        for f in [f for f in findings if f.get("rule") == "ML001"][:1]:
            console.print(f"[bold]Leakage flagged[/]: {f['file']}:{f['line']} — {f['message']}")
    return reports
