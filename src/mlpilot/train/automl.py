"""AutoML: one Optuna study over model families, hyper-parameters and feature engineering.

Each trial picks a ``family`` (linear, random forest, histogram gradient boosting;
LightGBM/XGBoost when installed), its hyper-parameters (``<family>.<name>``) and
the feature engineering (``fe.*``: numeric imputation, categorical encoding,
scaling for linear models, model-based feature selection), builds one
scikit-learn ``Pipeline`` and scores it by stratified (or plain) k-fold
cross-validation. The best pipeline is refitted on all the data.

The study lives in an Optuna RDB storage, so several workers (threads here,
tasks on Ray, processes on other machines) can share it. Where that storage is:
see :func:`optuna_storage_url`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument, MlpilotError
from mlpilot.train.executors import Executor, LocalExecutor

if TYPE_CHECKING:
    import optuna

#: The PostgreSQL schema that holds Optuna's tables beside the metadata store's.
OPTUNA_SCHEMA = "mlpilot_optuna"
SAMPLERS = ("tpe", "evolutionary")
TASKS = ("classification", "regression")


class TrainingError(MlpilotError):
    """A training pipeline or an AutoML search failed to produce a model."""

    code = "training_failed"
    http_status = 422


# -- the search space ---------------------------------------------------------------------
def _linear(trial: Any, task: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        c = trial.suggest_float("linear.C", 1e-3, 1e2, log=True)
        return LogisticRegression(C=c, max_iter=2000)
    return Ridge(alpha=trial.suggest_float("linear.alpha", 1e-3, 1e2, log=True))


def _random_forest(trial: Any, task: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(
        n_estimators=trial.suggest_int("random_forest.n_estimators", 50, 300, step=50),
        max_depth=trial.suggest_int("random_forest.max_depth", 3, 20),
        min_samples_leaf=trial.suggest_int("random_forest.min_samples_leaf", 1, 10),
        max_features=trial.suggest_float("random_forest.max_features", 0.2, 1.0),
        n_jobs=1, random_state=seed,
    )


def _hist_gradient_boosting(trial: Any, task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (HistGradientBoostingClassifier if task == "classification"
           else HistGradientBoostingRegressor)
    return cls(
        learning_rate=trial.suggest_float("hist_gradient_boosting.learning_rate", 0.01, 0.3,
                                          log=True),
        max_iter=trial.suggest_int("hist_gradient_boosting.max_iter", 50, 300, step=50),
        max_leaf_nodes=trial.suggest_int("hist_gradient_boosting.max_leaf_nodes", 8, 64,
                                         log=True),
        min_samples_leaf=trial.suggest_int("hist_gradient_boosting.min_samples_leaf", 5, 50,
                                           log=True),
        l2_regularization=trial.suggest_float("hist_gradient_boosting.l2_regularization",
                                              1e-6, 1.0, log=True),
        random_state=seed,
    )


def _lightgbm(trial: Any, task: str, seed: int) -> Any:
    import lightgbm

    cls = lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor
    return cls(
        learning_rate=trial.suggest_float("lightgbm.learning_rate", 0.01, 0.3, log=True),
        n_estimators=trial.suggest_int("lightgbm.n_estimators", 50, 400, step=50),
        num_leaves=trial.suggest_int("lightgbm.num_leaves", 8, 128, log=True),
        min_child_samples=trial.suggest_int("lightgbm.min_child_samples", 5, 50, log=True),
        subsample=trial.suggest_float("lightgbm.subsample", 0.5, 1.0), subsample_freq=1,
        colsample_bytree=trial.suggest_float("lightgbm.colsample_bytree", 0.5, 1.0),
        n_jobs=1, random_state=seed, verbose=-1,
    )


def _xgboost(trial: Any, task: str, seed: int) -> Any:
    import xgboost

    cls = xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor
    return cls(
        learning_rate=trial.suggest_float("xgboost.learning_rate", 0.01, 0.3, log=True),
        n_estimators=trial.suggest_int("xgboost.n_estimators", 50, 400, step=50),
        max_depth=trial.suggest_int("xgboost.max_depth", 2, 10),
        subsample=trial.suggest_float("xgboost.subsample", 0.5, 1.0),
        colsample_bytree=trial.suggest_float("xgboost.colsample_bytree", 0.5, 1.0),
        n_jobs=1, random_state=seed,
    )


#: family name -> (module it needs, builder of the estimator from a trial)
FAMILIES: dict[str, tuple[str | None, Any]] = {
    "linear": (None, _linear),
    "random_forest": (None, _random_forest),
    "hist_gradient_boosting": (None, _hist_gradient_boosting),
    "lightgbm": ("lightgbm", _lightgbm),
    "xgboost": ("xgboost", _xgboost),
}


def available_families() -> list[str]:
    """The families whose libraries are installed here."""
    import importlib.util

    return [name for name, (module, _) in FAMILIES.items()
            if module is None or importlib.util.find_spec(module) is not None]


class _Params:
    """Replays fixed parameters through the ``suggest_*`` calls (the refit of the best)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def _get(self, name: str, *_: Any, **__: Any) -> Any:
        return self.params[name]

    suggest_float = suggest_int = suggest_categorical = _get


def build_pipeline(trial: Any, columns: Columns, task: str, families: list[str],
                   seed: int = 0) -> Any:
    """The scikit-learn pipeline a trial (or a ``_Params`` replay) describes."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.feature_selection import SelectFromModel, VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

    family = trial.suggest_categorical("family", families)
    steps: list[tuple[str, Any, list[str]]] = []
    if columns.numeric:
        num: list[tuple[str, Any]] = [("impute", SimpleImputer(
            strategy=trial.suggest_categorical("fe.impute", ["median", "mean"]),
            add_indicator=True))]
        if family == "linear":
            scale = trial.suggest_categorical("linear.scale", ["standard", "robust"])
            num.append(("scale", StandardScaler() if scale == "standard" else RobustScaler()))
        steps.append(("num", Pipeline(num), list(columns.numeric)))
    if columns.categorical:
        encoding = ("onehot" if family == "linear"
                    else trial.suggest_categorical("fe.encoding", ["onehot", "ordinal"]))
        encoder = (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                                 sparse_output=False)
                   if encoding == "onehot"
                   else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
        steps.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("encode", encoder)]), list(columns.categorical)))
    pipeline_steps: list[tuple[str, Any]] = [
        ("features", ColumnTransformer([(n, t, c) for n, t, c in steps])),
        ("constant", VarianceThreshold()),
    ]
    if trial.suggest_categorical("fe.select", ["none", "model"]) == "model":
        cls = ExtraTreesClassifier if task == "classification" else ExtraTreesRegressor
        threshold = trial.suggest_categorical("fe.select_threshold", ["mean", "median"])
        pipeline_steps.append(("select", SelectFromModel(
            cls(n_estimators=50, n_jobs=1, random_state=seed), threshold=threshold)))
    pipeline_steps.append(("model", FAMILIES[family][1](trial, task, seed)))
    return Pipeline(pipeline_steps)


# -- configuration ----------------------------------------------------------------------
@dataclass(frozen=True)
class Columns:
    """The feature columns by kind (booleans count as numeric)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def of(cls, X: pd.DataFrame) -> Columns:
        numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
        return cls(tuple(numeric), tuple(c for c in X.columns if c not in numeric))


@dataclass(frozen=True)
class AutoMLConfig:
    """What to search and for how long.

    Args:
        families: model families to try (default: every installed one).
        n_trials: total trials over all workers (``None``: until the budget ends).
        budget_seconds: wall-clock budget of the search (``None``: until ``n_trials``).
            Trials running at the deadline finish; the final refit comes after.
        sampler: ``"tpe"`` (default) or ``"evolutionary"`` (NSGA-II).
        metric: a scikit-learn scorer name (default: ``roc_auc`` for binary,
            ``roc_auc_ovr`` for multi-class classification, ``r2`` for regression).
        task: ``"classification"`` or ``"regression"`` (default: inferred from the target).
        cv: cross-validation folds per trial.
        n_workers: workers pulling trials from the shared study.
        seed: seeds samplers, folds and estimators.
        storage: an Optuna storage URL (default: next to the metadata store).
    """

    families: tuple[str, ...] | None = None
    n_trials: int | None = 20
    budget_seconds: float | None = 300.0
    sampler: str = "tpe"
    metric: str | None = None
    task: str | None = None
    cv: int = 3
    n_workers: int = 1
    seed: int = 0
    storage: str | None = None

    def __post_init__(self) -> None:
        if self.n_trials is None and self.budget_seconds is None:
            raise InvalidArgument("AutoML needs n_trials or budget_seconds. Got neither.")
        if self.n_trials is not None and self.n_trials < 1:
            raise InvalidArgument(f"AutoML n_trials must be >= 1. Got {self.n_trials}.")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise InvalidArgument(
                f"AutoML budget_seconds must be > 0. Got {self.budget_seconds}.")
        if self.sampler not in SAMPLERS:
            raise InvalidArgument(
                f"No AutoML sampler named {self.sampler!r}. Available: {list(SAMPLERS)}.")
        if self.task is not None and self.task not in TASKS:
            raise InvalidArgument(f"AutoML task must be one of {list(TASKS)}. Got {self.task!r}.")
        if self.cv < 2 or self.n_workers < 1:
            raise InvalidArgument(
                f"AutoML needs cv >= 2 and n_workers >= 1. Got cv={self.cv}, "
                f"n_workers={self.n_workers}.")
        if self.families is not None:
            unknown = [f for f in self.families if f not in FAMILIES]
            missing = [f for f in self.families if f in FAMILIES
                       and f not in available_families()]
            if unknown or missing or not self.families:
                raise InvalidArgument(
                    f"AutoML families must be installed families. Got unknown {unknown}, "
                    f"not installed {missing}. Available: {available_families()}.")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | AutoMLConfig | None = None,
                     **overrides: Any) -> AutoMLConfig:
        """Build from a mapping (a policy's ``automl`` block); unknown keys are refused."""
        if isinstance(options, AutoMLConfig):
            values = dataclasses.asdict(options)
        else:
            values = dict(options or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InvalidArgument(
                f"Unknown AutoML options {unknown}. Valid options: {sorted(names)}.")
        if values.get("families") is not None:
            values["families"] = tuple(values["families"])
        return cls(**values)

    def resolved_families(self) -> list[str]:
        """The families this search tries."""
        return list(self.families) if self.families else available_families()


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as the run logs it."""

    number: int
    state: str
    score: float | None
    params: dict[str, Any]
    worker: str
    completed_at: datetime | None


@dataclass(frozen=True)
class AutoMLResult:
    """The refitted best pipeline and how it was found."""

    model: Any
    task: str
    metric: str
    best_family: str
    best_params: dict[str, Any]
    best_score: float
    baseline_score: float
    study_name: str
    storage: str
    trials: tuple[TrialRecord, ...] = field(default_factory=tuple)
    warm_started: bool = False


@dataclass(frozen=True)
class _Spec:
    """What every worker needs to rebuild and score a trial (picklable)."""

    task: str
    metric: str
    families: list[str]
    columns: Columns
    cv: int
    seed: int
    sampler: str
    n_trials: int | None


# -- task, metric, storage ----------------------------------------------------------------
def infer_task(y: pd.Series) -> str:
    """``classification`` for labels (strings, booleans, few integers), else ``regression``."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= max(2, min(20, len(y) // 20)):
        return "classification"
    return "regression"


def _default_metric(task: str, y: pd.Series) -> str:
    if task == "regression":
        return "r2"
    return "roc_auc" if y.nunique() <= 2 else "roc_auc_ovr"


def optuna_storage_url(store_url: str, home: Any) -> str:
    """Where the AutoML studies of a metadata store live.

    Optuna keeps its own Alembic revision in ``alembic_version``, the same table
    the metadata store migrates with, so the two never share a schema:

    * SQLite store: a separate file ``<home>/optuna.db`` (also its own write lock);
    * PostgreSQL store: the same database, schema ``mlpilot_optuna`` (created on first
      use), so every worker that reaches the store reaches the studies.

    Raises:
        InvalidArgument: for other databases (pass ``storage`` explicitly).
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(store_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:///{Path(home) / 'optuna.db'}"
    if backend == "postgresql":
        url = url.update_query_dict({"options": f"-csearch_path={OPTUNA_SCHEMA}"})
        return url.render_as_string(hide_password=False)
    raise InvalidArgument(
        f"AutoML studies are kept beside SQLite or PostgreSQL stores. Got {backend!r}; "
        "set the AutoML 'storage' option to an Optuna storage URL.")


def public_url(url: str) -> str:
    """``url`` with its password masked (what runs and messages may show)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: show nothing that could be a secret
        return url.split("://", 1)[0] + "://…"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage on ``url`` (creating the PostgreSQL schema it names)."""
    import optuna
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Concurrent workers queue on SQLite's write lock instead of failing at once.
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    options = str(parsed.query.get("options", ""))
    if parsed.get_backend_name() == "postgresql" and "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0].split(",")[0]
        engine = create_engine(parsed.difference_update_query(["options"]),
                               isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except Exception:  # a concurrent creator won; the schema exists either way
            pass
        finally:
            engine.dispose()
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def _sampler(name: str, seed: int, n_trials: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    if name == "evolutionary":
        population = max(4, min(20, (n_trials or 40) // 2))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    startup = max(3, min(10, (n_trials or 30) // 3))
    return optuna.samplers.TPESampler(n_startup_trials=startup, seed=seed)


# -- workers --------------------------------------------------------------------------
def _cv(spec: _Spec, y: pd.Series) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if spec.task == "classification":
        folds = max(2, min(spec.cv, int(y.value_counts().min())))
        return StratifiedKFold(folds, shuffle=True, random_state=spec.seed)
    return KFold(spec.cv, shuffle=True, random_state=spec.seed)


def _objective(trial: Any, X: pd.DataFrame, y: pd.Series, spec: _Spec, worker: str) -> float:
    from sklearn.model_selection import cross_val_score

    trial.set_user_attr("mlpilot.worker", worker)
    model = build_pipeline(trial, spec.columns, spec.task, spec.families, spec.seed)
    scores = cross_val_score(model, X, y, scoring=spec.metric, cv=_cv(spec, y),
                             error_score="raise")
    return float(np.mean(scores))


def run_worker(storage: Any, study_name: str, X: pd.DataFrame, y: pd.Series, spec: _Spec,
               index: int, deadline: float | None) -> int:
    """Pull trials from the shared study until ``n_trials`` or the deadline (epoch seconds).

    Runs anywhere the storage is reachable: a thread, a Ray task, another machine.
    Returns the number of trials this worker ran.
    """
    import optuna
    from optuna.study import MaxTrialsCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if isinstance(storage, str):
        storage = open_storage(storage)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=_sampler(spec.sampler, spec.seed + index, spec.n_trials))
    timeout = None if deadline is None else deadline - time.time()
    if timeout is not None and timeout <= 0:
        return 0
    worker = f"{socket.gethostname()}:{os.getpid()}:{index}"
    before = len(study.get_trials(deepcopy=False))
    # The callback caps the total over all workers (each may overshoot by one trial).
    callbacks = [MaxTrialsCallback(spec.n_trials, states=None)] if spec.n_trials else []
    study.optimize(partial(_objective, X=X, y=y, spec=spec, worker=worker),
                   n_trials=spec.n_trials, timeout=timeout, callbacks=callbacks,
                   catch=(Exception,))
    return len(study.get_trials(deepcopy=False)) - before


def _baseline(X: pd.DataFrame, y: pd.Series, spec: _Spec) -> float:
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import cross_val_score

    dummy = DummyClassifier() if spec.task == "classification" else DummyRegressor()
    return float(np.mean(cross_val_score(dummy, X, y, scoring=spec.metric, cv=_cv(spec, y))))


def search(
    data: pd.DataFrame,
    target: str,
    config: AutoMLConfig | Mapping[str, Any] | None = None,
    *,
    executor: Executor | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    warm_start: Mapping[str, Any] | None = None,
) -> AutoMLResult:
    """Search the space for ``data`` (features plus the ``target`` column) and refit the best.

    Args:
        storage: an Optuna storage URL shared by the workers (default:
            ``config.storage``, else an in-memory study, which only local threads share).
        study_name: default: a fresh unique name; an existing study is continued.
        warm_start: parameters of a previous best trial, enqueued as the first trial.

    Raises:
        InvalidArgument: bad configuration, or an in-memory study with Ray workers.
        TrainingError: no trial completed (the message carries the first failure).
    """
    import optuna

    cfg = AutoMLConfig.from_options(config)
    if target not in data.columns:
        raise InvalidArgument(
            f"The training data has no target column {target!r}. Columns: {list(data.columns)}.")
    frame = data[data[target].notna()]
    X, y = frame.drop(columns=[target]), frame[target]
    if X.shape[1] == 0 or len(frame) < 2 * cfg.cv:
        raise InvalidArgument(
            f"AutoML needs feature columns and at least {2 * cfg.cv} labelled rows. "
            f"Got {X.shape[1]} features and {len(frame)} rows.")
    task = cfg.task or infer_task(y)
    spec = _Spec(task=task, metric=cfg.metric or _default_metric(task, y),
                 families=cfg.resolved_families(), columns=Columns.of(X), cv=cfg.cv,
                 seed=cfg.seed, sampler=cfg.sampler, n_trials=cfg.n_trials)
    executor = executor or LocalExecutor(max_workers=cfg.n_workers)
    storage = storage or cfg.storage
    if storage is None and not isinstance(executor, LocalExecutor):
        raise InvalidArgument(
            f"AutoML on the {executor.name} executor needs a storage URL its workers reach. "
            "Got none; pass storage=... (e.g. the metadata store's database).")
    shared: Any = open_storage(storage) if storage else optuna.storages.InMemoryStorage()
    name = study_name or f"mlpilot-automl-{uuid.uuid4().hex[:12]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=shared, direction="maximize",
                                load_if_exists=True)
    warm = bool(warm_start) and warm_start.get("family") in spec.families  # type: ignore[union-attr]
    if warm:
        study.enqueue_trial(dict(warm_start), skip_if_exists=True)  # type: ignore[arg-type]

    deadline = time.time() + cfg.budget_seconds if cfg.budget_seconds else None
    target_store = storage if storage else shared  # threads share the in-memory object
    executor.map(run_worker, [(target_store, name, X, y, spec, i, deadline)
                              for i in range(cfg.n_workers)])

    trials = [t for t in study.get_trials(deepcopy=False)
              if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)]
    records = tuple(TrialRecord(
        number=t.number, state=t.state.name, score=t.value, params=dict(t.params),
        worker=str(t.user_attrs.get("mlpilot.worker", "")), completed_at=t.datetime_complete,
    ) for t in sorted(trials, key=lambda t: t.number))
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        reasons = [t.system_attrs.get("fail_reason", "") for t in trials]
        first = next((r for r in reasons if r), "no trial finished within the budget")
        raise TrainingError(
            f"AutoML finished no trial of study {name!r} ({len(trials)} tried). "
            f"First failure: {first}. Raise budget_seconds or check the data.")
    best = max(completed, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
    model = build_pipeline(_Params(best.params), spec.columns, task, spec.families, cfg.seed)
    model.fit(X, y)
    return AutoMLResult(
        model=model, task=task, metric=spec.metric, best_family=str(best.params["family"]),
        best_params=dict(best.params), best_score=float(best.value),  # type: ignore[arg-type]
        baseline_score=_baseline(X, y, spec), study_name=name,
        storage=public_url(storage) if storage else "memory", trials=records,
        warm_started=warm,
    )


def params_json(params: Mapping[str, Any]) -> str:
    """Trial parameters as stable JSON (what a run records for a later warm start)."""
    return json.dumps(dict(params), sort_keys=True, default=str)
