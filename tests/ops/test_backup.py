"""Disaster recovery: backup while running, restore into an empty home on either database."""

from __future__ import annotations

import importlib
import json
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import MetaData, create_engine, select

import mlpilot
from mlpilot.core.entities import MetricPoint
from mlpilot.core.settings import Settings
from mlpilot.ops import (
    BackupCorrupt,
    BackupError,
    RestoreRefused,
    backup,
    restore,
    verify_backup,
)
from mlpilot.ops._format import encode_row
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store
from mlpilot.testing import temporary_store_url

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
# the module, not the function ``mlpilot.ops.backup`` that shadows it
backup_module = importlib.import_module("mlpilot.ops.backup")


def _frame(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(40, 10, 60), "income": rng.normal(5, 2, 60)})
    return X, (X["age"] + rng.normal(0, 5, 60) > 40).astype(int)


def _fill(ctx: Context) -> None:
    """Models, versions (real sklearn artifacts), aliases, runs, datasets, deployments, …"""
    X, y = _frame(0)
    for i, name in enumerate(("credit-risk", "churn")):
        with mlpilot.start_run(f"train-{name}", model=name, context=ctx) as run:
            run.log_params({"C": 1.0 + i, "solver": "lbfgs"})
            for step in range(3):
                run.log_metric("auc", 0.7 + step / 10 + i / 100, step=step)
            run.set_tag("team", "risk")
            model = LogisticRegression(C=1.0 + i).fit(X, y)
            mlpilot.register(model, name, training_data=X, alias="candidate", context=ctx)
        mlpilot.register(LogisticRegression(C=0.5).fit(X, y), name, parent_version=1,
                         metrics={"auc": 0.8}, context=ctx)
        ctx.store.set_alias(name, "production", 2, reason="better auc")
    mlpilot.register_dataset(X.assign(y=y), "credit-holdout", context=ctx)
    mlpilot.deploy("credit-risk", 2, strategy="single", context=ctx)
    ctx.store.record_decision("promote", "model", "credit-risk", reason="auc up",
                              evidence={"auc": [0.8, 0.81], "p_value": 0.01})
    ctx.store.add_metric_points([
        MetricPoint("credit-risk", "drift.ks", T0 + timedelta(hours=h),
                    T0 + timedelta(hours=h + 1), 0.1 * h, feature="age") for h in range(3)])
    ctx.store.raise_alert("drift:credit-risk:age", model="credit-risk", kind="drift",
                          severity="warning", title="age drifted", evidence={"ks": 0.3})
    ctx.store.create_token("ci", "admin")


@pytest.fixture
def filled(context: Context) -> Context:
    _fill(context)
    return context


def _dump(url: str) -> dict[str, list[str]]:
    """Every row of every table, normalised (UTC timestamps), sorted: for exact comparison."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            meta = MetaData()
            meta.reflect(bind=conn)
            return {t.name: sorted(encode_row(dict(r._mapping))
                                   for r in conn.execute(select(t)))
                    for t in meta.sorted_tables if t.name != "alembic_version"}
    finally:
        engine.dispose()


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """An empty home on the backend named by the test's ``target_backend`` parameter."""
    backend = getattr(request, "param", "sqlite")
    home = tmp_path / "restored"
    with temporary_store_url(backend, tmp_path) as url:
        yield Settings(home=home, store_url=url, artifact_url=str(home / "artifacts"),
                       actor="restorer")


def _open(settings: Settings) -> Context:
    return Context(settings=settings, store=Store.open(settings.store_url, actor="restorer"),
                   artifacts=get_artifact_store(settings.artifact_url))


# -- round trip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_restore_gives_back_everything_on_either_database(
        filled: Context, target: Settings, tmp_path: Path) -> None:
    # an archive across database kinds, a directory within one
    same = target.store_url.split(":")[0] == filled.settings.store_url.split(":")[0]
    kind = "backup-dir" if same else "backup.tar.gz"
    summary = backup(filled, tmp_path / kind)
    assert summary.tables["model_versions"] == 4 and summary.tables["events"] > 10
    assert summary.artifacts >= 6  # 4 models, datasets, code/warnings of the runs
    assert "password" not in summary.source

    restored = restore(tmp_path / kind, target)
    assert restored.tables == summary.tables
    assert restored.artifacts == summary.artifacts
    # every row of every table, ids and timestamps included, on the other database too
    assert _dump(target.store_url) == _dump(filled.settings.store_url)

    ctx = _open(target)
    try:
        src, dst = filled.store, ctx.store
        assert dst.list_models() == src.list_models()
        for model in ("credit-risk", "churn"):
            assert dst.list_versions(model) == src.list_versions(model)
        assert dst.search_runs() == src.search_runs()
        for run in src.search_runs():
            assert dst.metric_history(run.id, "auc") == src.metric_history(run.id, "auc")
        assert dst.list_events(limit=10_000) == src.list_events(limit=10_000)
        assert dst.list_decisions() == src.list_decisions()
        assert dst.list_alerts() == src.list_alerts()
        assert dst.list_deployments() == src.list_deployments()
        assert dst.list_datasets() == src.list_datasets()
        assert dst.list_tokens() == src.list_tokens()
        loaded = mlpilot.load("credit-risk@production", context=ctx)
        X, _ = _frame(0)
        expected = mlpilot.load("credit-risk@production", context=filled).model.predict(X)
        assert (np.asarray(loaded.model.predict(X)) == np.asarray(expected)).all()
        dataset = dst.list_datasets("credit-holdout")[0]
        assert len(mlpilot.load_dataset(dataset, context=ctx)) == 60
        # ids continue after the restored ones (PostgreSQL sequences were reset)
        before = max(e.id for e in dst.list_events(limit=10_000))
        X, y = _frame(1)
        v = mlpilot.register(LogisticRegression().fit(X, y), "credit-risk", context=ctx)
        assert v.version == 3
        assert max(e.id for e in dst.list_events(limit=10_000)) > before
    finally:
        ctx.store.close()


# -- consistency while writing ----------------------------------------------------------------
class _Writer(threading.Thread):
    """Keeps registering versions, moving an alias and logging metrics until stopped."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(daemon=True)
        self.ctx, self.done, self.error = ctx, 0, None
        self.stop = threading.Event()
        self.progress = threading.Condition()
        X, y = _frame(2)
        self.model = LogisticRegression().fit(X, y)
        self.run_id = ctx.store.create_run("live", model="live").id

    def run(self) -> None:
        try:
            step = 0
            while not self.stop.is_set():
                version = mlpilot.register(self.model, "live", tags={"i": str(step)},
                                           context=self.ctx)
                self.ctx.store.set_alias("live", "production", version.version)
                self.ctx.store.log_batch(self.run_id, metrics=[
                    ("loss", 1.0 / (step + 1), step, 1_700_000_000_000 + step)])
                step += 1
                with self.progress:
                    self.done += 1
                    self.progress.notify_all()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def wait_for_more(self) -> None:
        with self.progress:
            seen = self.done
            assert self.progress.wait_for(lambda: self.done > seen or self.error, timeout=20)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_backup_while_writing_is_a_snapshot(
        filled: Context, target: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _Writer(filled)
    export = backup_module._export_table

    def slow_export(*args: Any, **kwargs: Any) -> None:
        export(*args, **kwargs)
        writer.wait_for_more()  # a write commits between every two tables

    monkeypatch.setattr(backup_module, "_export_table", slow_export)
    writer.start()
    try:
        writer.wait_for_more()
        summary = backup(filled, tmp_path / "live.tar")
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None
    assert writer.done >= len(summary.tables)  # writes really interleaved with the export

    restore(tmp_path / "live.tar", target)
    ctx = _open(target)
    try:
        store = ctx.store
        versions = store.list_versions("live")
        numbers = [v.version for v in versions]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        assert store.get_model("live").latest_version == max(numbers)
        assert store.get_model("live").aliases["production"] in numbers
        for v in versions:  # every version's artifact came along, verified
            assert mlpilot.load(f"live/{v.version}", context=ctx).version == v
        # the audit log is a prefix of the source's, and agrees with the rows
        events = sorted(store.list_events(limit=10_000), key=lambda e: e.id)
        source = sorted(filled.store.list_events(limit=10_000), key=lambda e: e.id)
        assert events == source[:len(events)]
        created = [e for e in events if e.action == "version.create" and
                   e.target.startswith("live/")]
        assert len(created) == len(versions)
        history = store.metric_history(writer.run_id, "loss")
        assert store.get_run(writer.run_id).metrics["loss"] == history[-1].value
        assert len(history) == len(versions) - 1 or len(history) == len(versions)
    finally:
        ctx.store.close()


# -- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize("victim", ["tables/events.jsonl", "manifest.json", "artifact"])
def test_a_tampered_backup_is_refused_naming_the_file(
        filled: Context, target: Settings, tmp_path: Path, victim: str) -> None:
    path = tmp_path / "b"
    backup(filled, path)
    if victim == "artifact":
        digest = filled.store.resolve("churn@production").artifact_digest
        hexdigest = digest.removeprefix("sha256:")
        victim = f"artifacts/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    file = path / victim
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    with pytest.raises(BackupCorrupt, match=victim):
        restore(path, target)
    with pytest.raises(BackupCorrupt, match=victim):
        verify_backup(path)
    assert not (Path(target.artifact_url)).exists()  # refused before writing anything


def test_an_added_or_missing_file_is_refused(filled: Context, target: Settings,
                                             tmp_path: Path) -> None:
    path = tmp_path / "b"
    backup(filled, path)
    (path / "tables" / "extra.jsonl").write_text("{}\n")
    with pytest.raises(BackupCorrupt, match="extra.jsonl"):
        restore(path, target)
    (path / "tables" / "extra.jsonl").unlink()
    (path / "tables" / "runs.jsonl").unlink()
    with pytest.raises(BackupCorrupt, match="runs.jsonl"):
        restore(path, target)


def test_a_truncated_archive_is_refused(filled: Context, target: Settings,
                                        tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    backup(filled, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackupCorrupt, match="truncated or damaged"):
        restore(path, target)


def test_restore_refuses_a_store_that_is_not_empty(filled: Context, tmp_path: Path) -> None:
    backup(filled, tmp_path / "b.tar")
    with pytest.raises(RestoreRefused, match="is not empty.*model_versions: 4 rows"):
        restore(tmp_path / "b.tar", filled.settings)


def test_restore_refuses_an_artifact_store_that_is_not_empty(
        filled: Context, target: Settings, tmp_path: Path) -> None:
    backup(filled, tmp_path / "b.tar")
    get_artifact_store(target.artifact_url).put_bytes(b"somebody else's blob")
    with pytest.raises(RestoreRefused, match="artifact store .* is not empty"):
        restore(tmp_path / "b.tar", target)


def test_a_corrupt_artifact_fails_the_backup_naming_it(filled: Context, tmp_path: Path) -> None:
    version = filled.store.resolve("churn@candidate")
    hexdigest = version.artifact_digest.removeprefix("sha256:")
    blob = Path(filled.settings.artifact_url) / "sha256" / hexdigest[:2] / hexdigest[2:]
    blob.write_bytes(blob.read_bytes()[:-10])
    with pytest.raises(BackupError, match="model version churn/1.*integrity check"):
        backup(filled, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_a_missing_artifact_fails_the_backup(filled: Context, tmp_path: Path) -> None:
    version = filled.store.resolve("credit-risk@production")
    hexdigest = version.artifact_digest.removeprefix("sha256:")
    (Path(filled.settings.artifact_url) / "sha256" / hexdigest[:2] / hexdigest[2:]).unlink()
    with pytest.raises(BackupError, match="model version credit-risk/2.*not in the artifact"):
        backup(filled, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_an_interrupted_backup_leaves_nothing_that_looks_complete(
        filled: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backup_module, "_write_manifest", crash)
    for name in ("b", "b.tar.gz"):
        with pytest.raises(KeyboardInterrupt):
            backup(filled, tmp_path / name)
        assert not (tmp_path / name).exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_backup_never_overwrites(filled: Context, tmp_path: Path) -> None:
    backup(filled, tmp_path / "b.tar")
    with pytest.raises(BackupError, match="already exists"):
        backup(filled, tmp_path / "b.tar")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        backup(filled, tmp_path / "d")


# -- inference log and CLI ----------------------------------------------------------------------
def test_inference_log_only_with_the_flag(filled: Context, target: Settings,
                                          tmp_path: Path) -> None:
    log = Path(filled.settings.home) / "inference-log"
    (log / "segments").mkdir(parents=True)
    (log / "segments" / "000001.seg").write_bytes(b"records")
    (log / "writer.lock").write_text("")
    assert backup(filled, tmp_path / "plain").inference_log_files is None
    assert backup(filled, tmp_path / "with-log", include_log=True).inference_log_files == 1
    restored = restore(tmp_path / "with-log", target)
    assert restored.inference_log_files == 1
    assert (target.home / "inference-log" / "segments" / "000001.seg").read_bytes() == b"records"


def test_cli_backup_and_restore(filled: Context, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mlpilot.cli.main import app

    settings = filled.settings
    for var, value in (("MLPILOT_HOME", settings.home), ("MLPILOT_STORE_URL", settings.store_url),
                       ("MLPILOT_ARTIFACT_URL", settings.artifact_url)):
        monkeypatch.setenv(var, str(value))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    result = runner.invoke(app, ["backup", str(tmp_path / "b.tgz"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tables"]["model_versions"] == 4
    with tarfile.open(tmp_path / "b.tgz") as tar:
        assert "manifest.json" in tar.getnames()

    result = runner.invoke(app, ["restore", str(tmp_path / "b.tgz"),
                                 "--home", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert "Restore complete" in result.stdout and "model_versions" in result.stdout
    result = runner.invoke(app, ["--home", str(tmp_path / "new"), "models", "--json"])
    assert result.exit_code == 0, result.output
    assert {m["name"] for m in json.loads(result.stdout)} == {"credit-risk", "churn"}

    result = runner.invoke(app, ["restore", str(tmp_path / "b.tgz"),
                                 "--home", str(tmp_path / "new")])
    assert result.exit_code == 1
    assert "is not empty" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["backup", str(tmp_path / "b2")])
    assert result.exit_code == 0, result.output
    assert "Backup complete" in result.stdout
