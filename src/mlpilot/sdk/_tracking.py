"""Experiment tracking: ``with mlpilot.start_run(...) as run:``.

Writes are buffered and flushed in batches (every ``FLUSH_POINTS`` metric points,
every ``FLUSH_SECONDS``, and when the run ends), so tight logging loops cost a
list append, not a transaction.
"""

from __future__ import annotations

import json
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from mlpilot.core.entities import Dataset, MetricValue, Run, RunArtifact, RunStatus
from mlpilot.core.errors import InvalidArgument
from mlpilot.sdk._context import Context, get_context
from mlpilot.sdk._datasets import snapshot_dataset
from mlpilot.sdk._environment import code_version, environment
from mlpilot.store.artifacts import safe_relative_name

FLUSH_POINTS = 5000
FLUSH_SECONDS = 1.0
MAX_CODE_BYTES = 1_000_000
WARNINGS_ARTIFACT = "warnings.json"

_local = threading.local()


def _stack() -> list[ActiveRun]:
    if not hasattr(_local, "runs"):
        _local.runs = []
    return _local.runs  # type: ignore[no-any-return]


class ActiveRun:
    """A run being logged to. Use it as a context manager; not shared across threads."""

    def __init__(self, context: Context, run: Run) -> None:
        self._ctx = context
        self.id = run.id
        self.name = run.name
        self._params: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._points: list[tuple[str, float, int, int]] = []
        self._artifacts: list[tuple[str, str, int]] = []
        self._steps: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._ended = False
        self._warnings: list[dict[str, Any]] = []
        self._showwarning = warnings.showwarning
        warnings.showwarning = self._record_warning

    def _record_warning(self, message: Warning | str, category: type[Warning], filename: str,
                        lineno: int, file: Any = None, line: str | None = None) -> None:
        """Keep warnings raised during the run (e.g. ConvergenceWarning) and still show them."""
        self._warnings.append({"category": category.__name__, "message": str(message),
                               "filename": filename, "lineno": lineno})
        self._showwarning(message, category, filename, lineno, file, line)

    # -- logging --------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record one hyper-parameter (immutable once flushed)."""
        self._params[key] = value
        self._maybe_flush()

    def log_params(self, params: dict[str, Any]) -> None:
        """Record several hyper-parameters."""
        self._params.update(params)
        self._maybe_flush()

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Append a point to the metric series ``key``.

        Args:
            step: defaults to one past the last step logged for ``key`` in this run.
            timestamp: seconds since the epoch; defaults to now.
        """
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = step
        ts = int((timestamp if timestamp is not None else time.time()) * 1000)
        self._points.append((key, value, step, ts))
        self._maybe_flush()

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Append one point to each of several series."""
        now = time.time()
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=now)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a mutable tag."""
        self._tags[key] = str(value)
        self._maybe_flush()

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several mutable tags."""
        self._tags.update({k: str(v) for k, v in tags.items()})
        self._maybe_flush()

    def log_artifact(self, path: str | Path, name: str | None = None) -> RunArtifact:
        """Store a local file under ``name`` (default: its file name) in the run's artifacts."""
        source = Path(path)
        if not source.is_file():
            raise InvalidArgument(f"log_artifact needs an existing file. Got {str(path)!r}.")
        artifact_name = safe_relative_name(name or source.name)
        ref = self._ctx.artifacts.put_file(source)
        self._ctx.store.add_run_artifact(self.id, artifact_name, ref.digest, ref.size)
        return RunArtifact(name=artifact_name, digest=ref.digest, size=ref.size)

    def log_dataset(
        self, data: pd.DataFrame | str | Path, name: str, *, role: str = "training",
        description: str = "",
    ) -> Dataset:
        """Snapshot ``data`` (Parquet, content-addressed, profiled) and link it to this run."""
        dataset = snapshot_dataset(self._ctx, data, name, description=description)
        self._ctx.store.link_dataset(dataset.id, self.id, role=role)
        return dataset

    # -- life cycle -----------------------------------------------------------------
    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        if not (self._params or self._points or self._tags or self._artifacts):
            return
        params, points, tags = self._params, self._points, self._tags
        artifacts = self._artifacts
        self._params, self._points, self._tags, self._artifacts = {}, [], {}, []
        self._ctx.store.log_batch(self.id, params=params, metrics=points, tags=tags,
                                  artifacts=artifacts)
        self._last_flush = time.monotonic()

    def _maybe_flush(self) -> None:
        if (len(self._points) >= FLUSH_POINTS
                or time.monotonic() - self._last_flush >= FLUSH_SECONDS):
            self.flush()

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> Run:
        """Flush and close the run."""
        if self._ended:
            return self.info
        if warnings.showwarning == self._record_warning:
            warnings.showwarning = self._showwarning
        try:
            if self._warnings:
                self._save_warnings()
            self.flush()
        finally:
            self._ended = True
            stack = _stack()
            if self in stack:
                stack.remove(self)
        return self._ctx.store.end_run(self.id, status)

    def _save_warnings(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / WARNINGS_ARTIFACT
            path.write_text(json.dumps(self._warnings, indent=1))
            self.log_artifact(path)
        self.set_tag("mlpilot.warnings", len(self._warnings))

    def log_code(self, path: str | Path) -> RunArtifact | None:
        """Snapshot a source file as ``code/<name>`` (what the code checks analyse).

        The record is written with the next batch, not in a transaction of its own.
        """
        source = Path(path)
        if not source.is_file() or source.stat().st_size > MAX_CODE_BYTES:
            return None
        name = safe_relative_name(f"code/{source.name}")
        ref = self._ctx.artifacts.put_file(source)
        self._artifacts.append((name, ref.digest, ref.size))
        return RunArtifact(name=name, digest=ref.digest, size=ref.size)

    @property
    def info(self) -> Run:
        """The run as stored (flushes first)."""
        if not self._ended:
            self.flush()
        return self._ctx.store.get_run(self.id)

    def metric_history(self, key: str) -> list[MetricValue]:
        """Every stored point of ``key`` (flushes first)."""
        self.flush()
        return self._ctx.store.metric_history(self.id, key)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        self.end(status)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.name!r})"


def start_run(
    name: str | None = None,
    *,
    model: str | None = None,
    parent: ActiveRun | str | None = None,
    tags: dict[str, Any] | None = None,
    code_paths: list[str | Path] | None = None,
    context: Context | None = None,
) -> ActiveRun:
    """Start a tracked run and make it the active one.

    Code version (git commit, dirty flag), environment (Python, packages) and the
    training script (``__main__``, or ``code_paths``) are captured automatically,
    and warnings raised while the run is open are kept as ``warnings.json``. A run
    started inside another becomes its child.

    Example:
        >>> with mlpilot.start_run(name="baseline", model="credit-risk") as run:  # doctest: +SKIP
        ...     run.log_params({"C": 1.0})
        ...     run.log_metric("auc", 0.91)
    """
    ctx = context or get_context()
    stack = _stack()
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    if parent_id is None and stack:
        parent_id = stack[-1].id
    run = ctx.store.create_run(
        name, model=model, parent_run_id=parent_id,
        tags={k: str(v) for k, v in (tags or {}).items()},
        code_version=code_version(), environment=environment(),
    )
    active = ActiveRun(ctx, run)
    stack.append(active)
    for path in code_paths if code_paths is not None else _entry_script():
        active.log_code(path)
    return active


def _entry_script() -> list[Path]:
    """The user's ``__main__`` script, unless it is an installed tool (pytest, ipython)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return []
    path = Path(main_file).resolve()
    installed = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"],
                                             sysconfig.get_paths()["stdlib"], sys.prefix)}
    if any(path.is_relative_to(root) for root in installed):
        return []
    return [path]


def active_run() -> ActiveRun | None:
    """The innermost run started in this thread and not yet ended."""
    stack = _stack()
    return stack[-1] if stack else None


def require_active_run() -> ActiveRun:
    """The active run, or a clear error telling how to start one."""
    run = active_run()
    if run is None:
        raise InvalidArgument(
            "There is no active run. Start one with `with mlpilot.start_run(): ...`."
        )
    return run
