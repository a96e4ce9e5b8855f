"""Fixtures for the ``mlpilot`` command tests: an isolated home and a populated store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mlpilot.core.entities import Route
from mlpilot.sdk._context import set_context
from mlpilot.store import Store

DIGEST = "sha256:" + "0" * 64
SIG_V1 = {"inputs": [{"name": "age", "dtype": "integer", "nullable": False},
                     {"name": "income", "dtype": "float", "nullable": True}],
          "outputs": [{"name": "default", "dtype": "integer", "nullable": False}]}
SIG_V2 = {"inputs": [{"name": "age", "dtype": "integer", "nullable": False},
                     {"name": "income", "dtype": "integer", "nullable": False},
                     {"name": "zip", "dtype": "string", "nullable": False}],
          "outputs": [{"name": "default", "dtype": "integer", "nullable": False}]}


@dataclass
class Seeded:
    """Ids of what :func:`seeded` put in the store."""

    store: Store
    run1: str
    run2: str
    dataset: str


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty mlpilot home; MLPILOT_* point at it and wide tables don't fold."""
    root = tmp_path / "home"
    monkeypatch.setenv("MLPILOT_HOME", str(root))
    for var in ("MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLPILOT_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    yield root
    set_context(None)  # the CLI installs its context as the SDK default; close it


class Cli:
    """Runs ``mlpilot`` in-process and checks how it ended."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def run(self, *args: str) -> Result:
        """Invoke the command with ``args``; return the result, whatever it is."""
        from mlpilot.cli.main import app

        return self.runner.invoke(app, list(args))

    def ok(self, *args: str) -> str:
        """Invoke, assert exit 0, return stdout."""
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def fails(self, *args: str, code: int = 1) -> str:
        """Invoke, assert a clean failure with ``code`` (no traceback), return stderr."""
        result = self.run(*args)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.stderr


@pytest.fixture
def cli(home: Path) -> Cli:
    """The ``mlpilot`` command, acting on ``home``."""
    return Cli()


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    """The metadata store inside ``home``."""
    s = Store.open(f"sqlite:///{home / 'mlpilot.db'}", actor="tester")
    yield s
    s.close()


@pytest.fixture
def seeded(store: Store) -> Seeded:
    """Two models; credit-risk has two runs, a dataset, aliases and a canary deployment."""
    ds = store.register_dataset("credit-train", digest=DIGEST, num_rows=1200, num_columns=3,
                                schema={"columns": []}, profile={})
    run1 = store.create_run("baseline", model="credit-risk")
    store.log_batch(run1.id, params={"max_depth": 4, "lr": 0.1},
                    metrics=[("auc", 0.81, 0, 1_700_000_000_000)])
    store.end_run(run1.id)
    run2 = store.create_run("deeper", model="credit-risk")
    store.log_batch(run2.id, params={"max_depth": 6, "lr": 0.1},
                    metrics=[("auc", 0.86, 0, 1_700_000_100_000)])
    store.end_run(run2.id)
    store.link_dataset(ds.id, run2.id)
    store.create_version("credit-risk", format="sklearn", artifact_digest=DIGEST,
                         artifact_size=2048, signature=SIG_V1, run_id=run1.id,
                         metrics={"auc": 0.81, "accuracy": 0.75})
    store.create_version("credit-risk", format="sklearn", artifact_digest="sha256:" + "1" * 64,
                         artifact_size=4096, signature=SIG_V2, run_id=run2.id,
                         dataset_id=ds.id, parent_version=1,
                         metrics={"auc": 0.86, "accuracy": 0.79})
    store.set_alias("credit-risk", "production", 1, reason="first release")
    store.set_alias("credit-risk", "canary", 2)
    store.put_deployment("credit-risk-live", model="credit-risk", strategy="canary",
                         routes=[Route(1, 0.9), Route(2, 0.1, "canary")])
    store.create_version("churn", format="pyfunc", artifact_digest=DIGEST, artifact_size=10)
    return Seeded(store=store, run1=run1.id, run2=run2.id, dataset=ds.id)
