"""``mlpilot check``: exit codes for CI (0 blessed, 1 blocked, 2 could not run), JSON, files.

One registry per module (training and saving models dominate the cost): a
logistic regression as production (v1), another as candidate (v2), and a
pyfunc that predicts NaN (v3). The command runs on a Typer app holding just
``check``, the way ``main.py`` attaches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner, Result

import mlpilot
from mlpilot.checks import Check, CheckResult, Verdict
from mlpilot.checks import _registry as check_registry
from mlpilot.cli.check import register
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.sdk._context import set_context
from mlpilot.store import Store

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]
QUICK = "model_sanity,data_validation"


def nan_model(df: pd.DataFrame) -> np.ndarray:
    """A broken model: NaN for every row."""
    return np.full(len(df), np.nan)


class AlwaysFails(Check):
    """A blocking check that fails whatever the candidate."""

    name = "always_fails"

    def _run(self, ctx: Any) -> CheckResult:
        return self.result(Verdict.FAIL, "failed <on purpose>", reason="[red]test[/red]")


@dataclass
class Home:
    path: Path
    holdout_csv: Path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    root = tmp_path_factory.mktemp("check-cli")
    home = root / "home"
    ctx = mlpilot.configure(str(home), actor="tester")
    data = make_credit_data(800, seed=2)
    train, holdout = data[:600], data[600:].reset_index(drop=True)
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    pipe = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=300))])
    pipe.fit(train[FEATURES], train[TARGET])
    for model, alias in ((pipe, "production"), (pipe, "candidate"), (nan_model, None)):
        with mlpilot.start_run(name="train", model="credit-risk", context=ctx) as run:
            run.log_dataset(holdout, "credit-holdout", role="validation")
            mlpilot.register(model, "credit-risk", run=run, training_data=train[FEATURES],
                             alias=alias, context=ctx)
    holdout_csv = root / "holdout.csv"
    holdout.to_csv(holdout_csv, index=False)
    set_context(None)  # closes the store; each command opens its own
    yield Home(home, holdout_csv)


@pytest.fixture
def cli(registry: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MLPILOT_HOME", str(registry.path))
    for var in ("MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLPILOT_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `check` a subcommand, as under the real root app
        pass

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["check", *args])

    yield invoke
    set_context(None)


def _version(registry: Home, version: int) -> Any:
    store = Store.open(f"sqlite:///{registry.path / 'mlpilot.db'}", actor="tester")
    try:
        return store.get_version("credit-risk", version)
    finally:
        store.close()


def test_blessed_candidate_exits_0_and_writes_reports(cli: Any, registry: Home,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "check-report"
    result = cli("credit-risk@candidate", "--only", QUICK, "--data", str(registry.holdout_csv),
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "model_sanity" in result.stdout and "data_validation" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("Reports written to")
    assert "BLESSED — credit-risk/2" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "model_card.html", "model_card.md", "report.html", "report.json"]
    v2 = _version(registry, 2)
    assert v2.tags["blessed"] == "true" and v2.check_report["blessed"] is True
    assert v2.model_card == (out / "model_card.md").read_text()


def test_json_output_is_valid_json(cli: Any, registry: Home) -> None:
    result = cli("credit-risk/2", "--only", "model_sanity", "--json", "--no-store")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and data["blessed"] is True
    assert data["candidate"] == "credit-risk/2" and data["baseline"] == "credit-risk/1"
    ran = [r for r in data["results"] if "carried_from" not in r["evidence"]]
    assert [r["check"] for r in ran] == ["model_sanity"]  # others: kept from earlier runs
    assert "Reports written to" in result.stderr  # stdout stays machine-readable
    # the default place: $MLPILOT_HOME/reports/<model>/<version>/
    assert (registry.path / "reports" / "credit-risk" / "2" / "report.html").is_file()


def test_failing_blocking_check_exits_1(cli: Any, registry: Home, tmp_path: Path) -> None:
    result = cli("credit-risk/3", "--only", "model_sanity", "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "NOT BLESSED" in result.stdout and "blocking failures: model_sanity" in result.stdout
    assert "NaN" in result.stdout
    assert (tmp_path / "report.html").is_file()
    assert _version(registry, 3).tags["blessed"] == "false"


def test_no_store_leaves_the_version_alone(cli: Any, registry: Home, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(check_registry._EXTRA, "always_fails", AlwaysFails)
    before = _version(registry, 1)
    result = cli("credit-risk/1", "--only", "always_fails", "--baseline", "none",
                 "--no-store", "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "failed <on purpose>" in result.stdout and "[red]test[/red]" in result.stdout
    after = _version(registry, 1)
    assert (after.tags, after.check_report, after.model_card) == (
        before.tags, before.check_report, before.model_card)
    assert json.loads((tmp_path / "report.json").read_text())["baseline"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "{config}"], "not valid YAML"),
    (["--config", "{unknown}"], "Unknown checks"),
    (["--config", "{missing}"], "No check configuration file"),
    (["--config", "{bad_param}", "--only", "budgets"], "'max_load_s' parameter of BudgetCheck"),
    (["--only", "nope"], "No check named 'nope'"),
    (["--data", "{missing}"], "No data file"),
    (["--target", "no_such_column", "--only", "model_sanity"], "label column 'no_such_column'"),
])
def test_usage_and_config_errors_exit_2(cli: Any, tmp_path: Path, args: list[str],
                                        message: str) -> None:
    files = {"config": "checks: [unclosed", "unknown": "checks:\n  nonsense: {}\n",
             "bad_param": "checks:\n  budgets:\n    max_load_s: -1\n"}
    paths = {"missing": str(tmp_path / "missing.yaml")}
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        paths[name] = str(tmp_path / f"{name}.yaml")
    result = cli("credit-risk/2", *(a.format(**paths) for a in args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error:") and message in result.stderr


def test_unknown_model_exits_2(cli: Any) -> None:
    result = cli("no-such-model/1")
    assert result.exit_code == 2, result.output
    assert "Error:" in result.stderr


# -- the shipped examples -------------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_config_sets_every_parameter_of_every_check() -> None:
    import inspect

    from mlpilot.checks import DEFAULT_SUITE, build_suite, get_check_class, load_config

    config = load_config(EXAMPLES / "checks.yaml")
    assert [c.name for c in build_suite(config)] == list(DEFAULT_SUITE)
    for name in DEFAULT_SUITE:
        params = set(inspect.signature(get_check_class(name).__init__).parameters) - {"self"}
        block = config["checks"][name]
        assert set(block) == params | {"enabled"}, name  # documented, and nothing stale


def test_example_workflow_runs_the_check_and_uploads_the_reports() -> None:
    import yaml

    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "mlpilot-check.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["check"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    assert ('mlpilot check "$MODEL_REF" --data "$HOLDOUT" --config checks.yaml '
            "--out check-report") in script
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "check-report/"
    assert {"MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"} <= set(workflow["env"])
