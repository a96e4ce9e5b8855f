"""Training pipelines: ``@mlpilot.pipeline`` functions, AutoML, and ``run_training``.

A pipeline is a function ``(data: DataFrame, target: str) -> fitted model``,
registered by name. ``run_training`` runs one (or the built-in ``"automl"``) on a
data window under a tracked Run and registers the result as a new version with
lineage: training dataset → run → version → parent version.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from mlpilot.core.entities import Dataset, ModelVersion
from mlpilot.core.errors import InvalidArgument, NotFound, SchemaMismatch
from mlpilot.sdk._context import Context, get_context
from mlpilot.train import automl
from mlpilot.train.automl import TrainingError
from mlpilot.train.executors import Executor, LocalExecutor, get_executor

AUTOML = "automl"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Pipeline:
    """A registered training function."""

    name: str
    fn: Callable[[pd.DataFrame, str], Any]
    description: str = ""


_lock = threading.Lock()
_pipelines: dict[str, Pipeline] = {}


def pipeline(name: str | F | None = None, *, description: str = "") -> Any:
    """Register a training function under ``name`` (default: the function's name).

    The function receives the training window (features and the target column)
    and the target's name, and returns a fitted model; it is returned unchanged.
    Registering a name again replaces the previous function (re-run notebook cells).

    Example:
        >>> @mlpilot.pipeline("credit-gbm")  # doctest: +SKIP
        ... def train(data: pd.DataFrame, target: str):
        ...     return HistGradientBoostingClassifier().fit(data.drop(columns=target),
        ...                                                  data[target])

    Raises:
        InvalidArgument: for the reserved name ``"automl"`` or a non-callable.
    """
    def register(fn: F, pipeline_name: str) -> F:
        if not callable(fn):
            raise InvalidArgument(f"@pipeline decorates a function. Got {type(fn).__name__}.")
        if pipeline_name == AUTOML:
            raise InvalidArgument(
                "The pipeline name 'automl' is reserved for the built-in AutoML. "
                "Choose another name.")
        doc = description or (inspect.getdoc(fn) or "").split("\n", 1)[0]
        with _lock:
            _pipelines[pipeline_name] = Pipeline(pipeline_name, fn, doc)
        return fn

    if callable(name):
        return register(name, name.__name__)

    def decorator(fn: F) -> F:
        return register(fn, name or fn.__name__)

    return decorator


def list_pipelines() -> list[str]:
    """Names ``run_training`` accepts: the registered pipelines and ``"automl"``."""
    with _lock:
        return sorted([*_pipelines, AUTOML])


def get_pipeline(name: str) -> Pipeline:
    """The pipeline registered as ``name``.

    Raises:
        NotFound: listing the registered names.
    """
    with _lock:
        found = _pipelines.get(name)
    if found is None:
        raise NotFound(
            f"No training pipeline named {name!r}. Known: {list_pipelines()}. Register one "
            "with @mlpilot.pipeline(name) in a module imported before training.")
    return found


def unregister_pipeline(name: str) -> None:
    """Forget a pipeline (tests and notebooks)."""
    with _lock:
        _pipelines.pop(name, None)


# -- policy access ----------------------------------------------------------------------
def _option(policy: Any, key: str, default: Any = None) -> Any:
    """``policy[key]`` or ``policy.key`` (mappings, dataclasses, pydantic models alike)."""
    if policy is None:
        return default
    if isinstance(policy, Mapping):
        value = policy.get(key, default)
    else:
        value = getattr(policy, key, default)
    return default if value is None else value


def _as_mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(exclude_none=True))
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    raise InvalidArgument(f"The automl options are a mapping. Got {type(value).__name__}.")


def _resolve_data(ctx: Context, spec: Any) -> tuple[pd.DataFrame, Dataset | None]:
    """The training window and, when it is a registered snapshot, its Dataset."""
    from mlpilot.sdk._datasets import load_dataset

    if isinstance(spec, pd.DataFrame):
        return spec, None
    if isinstance(spec, Dataset):
        return load_dataset(spec, context=ctx), spec
    if isinstance(spec, str):
        try:
            dataset = ctx.store.get_dataset(spec)
        except NotFound:
            dataset = _dataset_by_name(ctx, spec)
        return load_dataset(dataset, context=ctx), dataset
    if callable(spec):
        params = [p for p in inspect.signature(spec).parameters.values()
                  if p.default is inspect.Parameter.empty
                  and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        result = spec(ctx) if params else spec()
        if isinstance(result, pd.DataFrame | Dataset | str):
            return _resolve_data(ctx, result)
        raise InvalidArgument(
            f"The policy's data callable must return a DataFrame. Got {type(result).__name__}.")
    raise InvalidArgument(
        "Training data is a DataFrame, a registered dataset (id, 'name' for the newest "
        "snapshot or 'name/N' for the N-th), or a callable returning a DataFrame. "
        f"Got {type(spec).__name__}. Set the policy's 'data' or pass data=...")


def _dataset_by_name(ctx: Context, ref: str) -> Dataset:
    name, _, number = ref.partition("/")
    snapshots = ctx.store.list_datasets(name)  # newest first
    if not snapshots:
        raise NotFound(f"No dataset with id or name {name!r}. Register it with "
                       "mlpilot.register_dataset(frame, name).")
    if not number:
        return snapshots[0]
    if not number.isdigit() or not 1 <= int(number) <= len(snapshots):
        raise NotFound(f"Dataset {name!r} has snapshots 1..{len(snapshots)}. Got {number!r}.")
    return snapshots[len(snapshots) - int(number)]


def _check_model(model: Any, name: str) -> None:
    if not callable(getattr(model, "predict", None)):
        raise TrainingError(
            f"Pipeline {name!r} must return a fitted model with a predict method. "
            f"Got {type(model).__name__}.")
    try:
        from sklearn.base import BaseEstimator
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return
    if isinstance(model, BaseEstimator):
        try:
            check_is_fitted(model)
        except NotFittedError as e:
            raise TrainingError(
                f"Pipeline {name!r} returned an unfitted {type(model).__name__}; "
                "fit it on the data before returning it.") from e


def _warm_start(ctx: Context, model: str, parent_version: int | None) -> dict[str, Any] | None:
    """The parent version's best AutoML params, if its run recorded them."""
    if parent_version is None:
        return None
    try:
        parent = ctx.store.get_version(model, parent_version)
        if parent.run_id is None:
            return None
        raw = ctx.store.get_run(parent.run_id).params.get("automl.best_params")
    except NotFound:
        return None
    if not raw:
        return None
    try:
        params = json.loads(raw)
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


# -- the entry point ----------------------------------------------------------------------
def run_training(
    context: Context | None,
    model: str,
    policy: Any,
    *,
    reason: str,
    parent_version: int | None,
    data: pd.DataFrame | None = None,
    **tags: Any,
) -> ModelVersion:
    """Train a new version of ``model`` as ``policy`` says, tracked, and register it.

    Args:
        context: the SDK context (``None``: the default one).
        policy: a mapping or object with ``pipeline`` (a registered name or
            ``"automl"``), ``target``, ``data`` (used when ``data`` is not passed),
            ``budget_seconds``, ``automl`` (see :class:`AutoMLConfig`), ``executor``
            (``"local"``, ``"ray"`` or an :class:`Executor`), and optionally
            ``decision_id`` and ``alias``.
        reason: why this training happens (tagged on the run and the version).
        parent_version: the version this one replaces (lineage; AutoML warm start).
        data: the training window (features and target); overrides ``policy.data``.
        **tags: extra tags for the run and the version (e.g. ``decision_id=42``).

    Returns:
        The registered version, tagged ``mlpilot.reason``, ``mlpilot.pipeline`` and
        ``mlpilot.decision_id`` (when given).

    Raises:
        NotFound: unknown pipeline (the message lists the known ones) or dataset.
        SchemaMismatch: the data lacks the target column.
        TrainingError: the pipeline returned no model, or AutoML finished no trial.
        InvalidArgument: a malformed policy.
    """
    from mlpilot.sdk._registry import register
    from mlpilot.sdk._tracking import start_run

    ctx = context or get_context()
    pipeline_spec = _option(policy, "pipeline", AUTOML)
    user: Pipeline | None = None
    if callable(pipeline_spec):
        user = Pipeline(getattr(pipeline_spec, "__name__", "pipeline"), pipeline_spec)
    elif pipeline_spec != AUTOML:
        user = get_pipeline(str(pipeline_spec))
    target = _option(policy, "target")
    if not isinstance(target, str) or not target:
        raise InvalidArgument(f"The training policy needs a 'target' column name. Got {target!r}.")
    frame, dataset = _resolve_data(
        ctx, data if data is not None else _option(policy, "data"))
    if target not in frame.columns:
        raise SchemaMismatch(
            f"The training data for {model!r} has no target column {target!r}. "
            f"Columns: {list(frame.columns)}.")
    decision_id = tags.pop("decision_id", None)
    if decision_id is None:
        decision_id = _option(policy, "decision_id")
    labels = {"mlpilot.reason": reason, "mlpilot.pipeline": user.name if user else AUTOML,
              **({"mlpilot.decision_id": decision_id} if decision_id is not None else {}),
              **tags}
    labels = {k: str(v) for k, v in labels.items()}
    executor = get_executor(_option(policy, "executor", "local"))
    budget = _option(policy, "budget_seconds")

    code = [] if user is None else [p for p in [_source(user.fn)] if p is not None]
    try:
        with start_run(f"train-{model}", model=model, tags=labels, code_paths=code,
                       context=ctx) as run:
            run.log_params({"pipeline": labels["mlpilot.pipeline"], "target": target,
                            "executor": executor.name, "rows": len(frame),
                            "budget_seconds": budget if budget is not None else "none",
                            "parent_version": parent_version or "none"})
            if dataset is None:
                dataset = run.log_dataset(frame, f"{model}-training")
            else:
                ctx.store.link_dataset(dataset.id, run.id, role="training")
            started = time.monotonic()
            if user is not None:
                fitted = executor.run(user.fn, frame, target)
                _check_model(fitted, user.name)
            else:
                fitted = _automl(ctx, model, policy, frame, target, budget, executor,
                                 parent_version, run)
            run.log_metric("train_seconds", time.monotonic() - started)
            version = register(fitted, model, run=run, training_data=dataset,
                               input_example=frame.drop(columns=[target]),
                               parent_version=parent_version, tags=labels,
                               alias=_option(policy, "alias"), context=ctx)
    finally:
        executor.close()
    return version


def _automl(ctx: Context, model: str, policy: Any, frame: pd.DataFrame, target: str,
            budget: Any, executor: Executor, parent_version: int | None, run: Any) -> Any:
    options = _as_mapping(_option(policy, "automl"))
    config = automl.AutoMLConfig.from_options(options, budget_seconds=budget)
    storage = config.storage or automl.optuna_storage_url(ctx.settings.store_url,
                                                          ctx.settings.home)
    if isinstance(executor, LocalExecutor):
        executor = LocalExecutor(max_workers=config.n_workers)
    warm = _warm_start(ctx, model, parent_version)
    run.log_params({
        "automl.families": ",".join(config.resolved_families()),
        "automl.n_trials": config.n_trials if config.n_trials is not None else "none",
        "automl.sampler": config.sampler, "automl.cv": config.cv,
        "automl.n_workers": config.n_workers, "automl.seed": config.seed,
        "automl.storage": automl.public_url(storage),
        "automl.warm_start": automl.params_json(warm) if warm else "none",
    })
    result = automl.search(frame, target, config, executor=executor, storage=storage,
                           study_name=f"mlpilot-{model}-{run.id[:12]}", warm_start=warm)
    best = float("-inf")
    for trial in result.trials:
        if trial.score is None:
            continue
        best = max(best, trial.score)
        stamp = trial.completed_at.timestamp() if trial.completed_at else None
        run.log_metric("automl.trial_score", trial.score, step=trial.number, timestamp=stamp)
        run.log_metric("automl.best_score", best, step=trial.number, timestamp=stamp)
    run.log_params({
        "automl.task": result.task, "automl.metric": result.metric,
        "automl.study_name": result.study_name, "automl.best_family": result.best_family,
        "automl.best_params": automl.params_json(result.best_params),
        "automl.trials": len(result.trials),
        "automl.warm_started": result.warm_started,
    })
    run.log_metrics({f"cv_{result.metric}": result.best_score,
                     f"baseline_cv_{result.metric}": result.baseline_score})
    return result.model


def _source(fn: Callable[..., Any]) -> Path | None:
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    return Path(path) if path else None
