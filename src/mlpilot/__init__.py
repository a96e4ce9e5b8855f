"""mlpilot: an autopilot for machine-learning models in production.

Quick start::

    import mlpilot
    with mlpilot.start_run(name="baseline", model="credit-risk") as run:
        run.log_params({"C": 1.0})
        model.fit(X, y)
        run.log_metric("auc", 0.91)
        mlpilot.register(model, "credit-risk", training_data=train_df, alias="candidate")
    model = mlpilot.load("credit-risk@candidate")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpilot.core.errors import MlpilotError
    from mlpilot.sdk._context import Context, get_context, set_context
    from mlpilot.sdk._datasets import load_dataset, register_dataset
    from mlpilot.sdk._deploy import deploy, switch, switch_back
    from mlpilot.sdk._registry import RegisteredModel, lineage, load, register, set_alias
    from mlpilot.sdk._tracking import ActiveRun, active_run, start_run
    from mlpilot.train.pipeline import pipeline, run_training

# Heavy dependencies (pandas, scikit-learn) load on first use, so `mlpilot --help`
# and `import mlpilot.core` stay fast.
_LAZY = {
    "MlpilotError": "mlpilot.core.errors",
    "Context": "mlpilot.sdk._context",
    "get_context": "mlpilot.sdk._context",
    "set_context": "mlpilot.sdk._context",
    "load_dataset": "mlpilot.sdk._datasets",
    "register_dataset": "mlpilot.sdk._datasets",
    "RegisteredModel": "mlpilot.sdk._registry",
    "lineage": "mlpilot.sdk._registry",
    "load": "mlpilot.sdk._registry",
    "register": "mlpilot.sdk._registry",
    "set_alias": "mlpilot.sdk._registry",
    "ActiveRun": "mlpilot.sdk._tracking",
    "active_run": "mlpilot.sdk._tracking",
    "deploy": "mlpilot.sdk._deploy",
    "switch": "mlpilot.sdk._deploy",
    "switch_back": "mlpilot.sdk._deploy",
    "start_run": "mlpilot.sdk._tracking",
    "pipeline": "mlpilot.train.pipeline",
    "run_training": "mlpilot.train.pipeline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlpilot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _run() -> Any:
    from mlpilot.sdk._tracking import require_active_run

    return require_active_run()


__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "Context",
    "MlpilotError",
    "RegisteredModel",
    "active_run",
    "check",
    "compare",
    "configure",
    "deploy",
    "get_context",
    "lineage",
    "load",
    "load_dataset",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "pipeline",
    "register",
    "register_dataset",
    "run_training",
    "search_runs",
    "set_alias",
    "set_context",
    "set_tags",
    "start_run",
    "switch",
    "switch_back",
]


def configure(
    home: str | None = None,
    *,
    store_url: str | None = None,
    artifact_url: str | None = None,
    actor: str | None = None,
) -> Context:
    """Point the SDK at a home directory or explicit store URLs; returns the new context."""
    import dataclasses

    from mlpilot.core.settings import Settings
    from mlpilot.sdk._context import Context, set_context

    settings = Settings.from_env(home)
    overrides = {k: v for k, v in {"store_url": store_url, "artifact_url": artifact_url,
                                   "actor": actor}.items() if v is not None}
    if home is not None and store_url is None:
        overrides.setdefault("store_url", f"sqlite:///{settings.home / 'mlpilot.db'}")
    if home is not None and artifact_url is None:
        overrides.setdefault("artifact_url", str(settings.home / "artifacts"))
    context = Context.from_settings(dataclasses.replace(settings, **overrides))
    set_context(context)
    return context


def log_param(key: str, value: Any) -> None:
    """Log a param on the active run."""
    _run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Log params on the active run."""
    _run().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric point on the active run."""
    _run().log_metric(key, value, step=step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log several metric points on the active run."""
    _run().log_metrics(metrics, step=step)


def set_tags(tags: dict[str, Any]) -> None:
    """Set tags on the active run."""
    _run().set_tags(tags)


def log_artifact(path: str, name: str | None = None) -> Any:
    """Store a file in the active run's artifacts."""
    return _run().log_artifact(path, name)


def log_dataset(data: Any, name: str, *, role: str = "training") -> Any:
    """Snapshot a dataset and link it to the active run."""
    return _run().log_dataset(data, name, role=role)


def search_runs(filter: str | None = None, **kwargs: Any) -> list[Any]:
    """Search runs in the default store (see :meth:`Store.search_runs`)."""
    from mlpilot.sdk._context import get_context

    return get_context().store.search_runs(filter, **kwargs)


def compare(model: str, a: int, b: int) -> dict[str, Any]:
    """Compare two versions of ``model`` (metrics, params, signature)."""
    from mlpilot.sdk._compare import compare_versions
    from mlpilot.sdk._context import get_context

    return compare_versions(get_context().store, model, a, b)


def check(ref: str, **kwargs: Any) -> Any:
    """Run the CI gates on a version and store the report (see :func:`mlpilot.checks.run_checks`).

    Example:
        >>> report = mlpilot.check("credit-risk/2", baseline="production")  # doctest: +SKIP
        >>> report.blessed
    """
    from mlpilot.checks.runner import run_checks

    return run_checks(ref, **kwargs)
