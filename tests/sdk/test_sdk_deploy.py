"""`mlpilot.deploy` / `mlpilot deploy`: strategies become routes; unblessed versions need force."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import mlpilot
from mlpilot.cli.main import app
from mlpilot.core.errors import InvalidArgument
from mlpilot.sdk._context import Context
from mlpilot.sdk._deploy import UnblessedVersion


@pytest.fixture
def two_versions(context: Context) -> Context:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "z": [1, 0, 1, 0]})
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c).fit(frame, [0, 0, 1, 1])
        mlpilot.register(model, "m", training_data=frame)
    context.store.set_alias("m", "production", 1)
    return context


@pytest.mark.parametrize(("strategy", "expected"), [
    ("single", [(2, 1.0, "primary")]),
    ("canary", [(1, 0.95, "primary"), (2, 0.05, "canary")]),
    ("shadow", [(1, 1.0, "primary"), (2, 0.0, "shadow")]),
    ("ab", [(1, 0.5, "primary"), (2, 0.5, "primary")]),
    ("bandit", [(1, 0.5, "primary"), (2, 0.5, "primary")]),
    ("blue-green", [(2, 1.0, "primary"), (1, 0.0, "primary")]),  # v1 stays loaded
])
def test_strategies_become_routes(two_versions: Context, strategy: str,
                                  expected: list[tuple[int, float, str]]) -> None:
    dep = mlpilot.deploy("m", 2, strategy=strategy)
    assert [(r.version, round(r.weight, 6), r.role) for r in dep.routes] == expected
    assert dep.strategy == strategy and dep.name == "m"
    event = two_versions.store.list_events(action="deployment.put")[0]
    assert strategy in event.reason


def test_canary_steps_and_bad_params(two_versions: Context) -> None:
    dep = mlpilot.deploy("m", 2, strategy="canary", params={"steps": [0.1, 0.5, 1.0]})
    assert dep.params["steps"] == [0.1, 0.5, 1.0] and dep.routes[1].weight == 0.1
    with pytest.raises(InvalidArgument, match="steps must increase"):
        mlpilot.deploy("m", 2, strategy="canary", params={"steps": [0.5, 0.1]})
    with pytest.raises(InvalidArgument, match="Available"):
        mlpilot.deploy("m", 2, strategy="rainbow")
    with pytest.raises(InvalidArgument, match="no baseline"):
        mlpilot.deploy("m", 1, strategy="canary")  # production is v1 itself


def test_unblessed_version_needs_force(two_versions: Context) -> None:
    store = two_versions.store
    store.annotate_version("m", 2, check_report={"blessed": False, "results": [
        {"check": "fairness", "verdict": "fail", "severity": "blocking"},
        {"check": "data_quality", "verdict": "fail", "severity": "advisory"}]})
    with pytest.raises(UnblessedVersion, match=r"failed blocking checks \['fairness'\]"):
        mlpilot.deploy("m", 2, strategy="canary")
    assert store.list_deployments() == []
    mlpilot.deploy("m", 2, strategy="canary", force=True, reason="hotfix")
    event = store.list_events(action="deployment.put")[0]
    assert "FORCED" in event.reason and "fairness" in event.reason and "hotfix" in event.reason


def test_deploy_command(two_versions: Context, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_STORE_URL", two_versions.settings.store_url)
    monkeypatch.setenv("MLPILOT_ARTIFACT_URL", two_versions.settings.artifact_url)
    monkeypatch.setenv("MLPILOT_HOME", str(two_versions.settings.home))
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "m", "--version", "2", "--strategy", "canary",
                                 "--steps", "10,50,100"])
    assert result.exit_code == 0, result.output
    assert "v1 90% (primary), v2 10% (canary)" in result.output
    bad = runner.invoke(app, ["deploy", "m", "--version", "2", "--steps", "a,b"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["deploy", "nope", "--version", "1"])
    assert missing.exit_code == 1 and "No model named 'nope'" in missing.output
