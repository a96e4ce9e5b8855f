"""The autopilot's policy per model, declared in ``mlpilot.yaml`` (or built in Python).

Example::

    autopilot:
      models:
        credit-risk:
          triggers:
            - {type: drift, min_severity: warning}
            - {type: performance, metric: accuracy, below: 0.8}
            - {type: schedule, cron: "0 3 * * 1"}
            - {type: new_data, dataset: credit-train}
          training:
            pipeline: automl              # a registered @mlpilot.pipeline name, or automl
            target: label
            data: credit-train            # a dataset id, name (newest) or name/N
            budget_seconds: 600
            automl: {families: [linear, hist_gradient_boosting], n_trials: 30}
            executor: local               # or ray
          checks: {only: [data_validation, model_sanity, performance]}
          rollout:
            strategy: canary
            steps: [0.1, 0.5, 1.0]
            window: {duration: 30m, deadline: 24h}      # non-urgent deploys: quiet hours
            predictive: {horizon: 30m, confidence: 0.9}  # roll back before the SLO breaks
          slos: {latency_p99_ms: 200, error_rate: 0.02}
          budgets: {max_retrains_per_day: 2, max_compute_seconds_per_day: 3600}
          approval: [promote]

Validation errors name the field (``models.credit-risk.triggers.0.cron``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from mlpilot.core.errors import InvalidArgument

ACTIONS = ("retrain", "deploy", "promote", "rollback")
Severity = Literal["info", "warning", "critical"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnDemandTrigger(_Spec):
    """Retrain when someone asks (``mlpilot autopilot retrain MODEL``)."""

    type: Literal["on_demand"] = "on_demand"


class ScheduleTrigger(_Spec):
    """Retrain at every match of a 5-field cron expression (UTC)."""

    type: Literal["schedule"] = "schedule"
    cron: str

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from mlpilot.pilot.cron import Cron

        Cron(value)  # raises ValueError with the bad field
        return value


class NewDataTrigger(_Spec):
    """Retrain when a newer snapshot of ``dataset`` (a dataset name) is registered."""

    type: Literal["new_data"] = "new_data"
    dataset: str = Field(min_length=1)
    min_rows: int = Field(default=0, ge=0)


class DriftTrigger(_Spec):
    """Retrain on an active drift alert of at least ``min_severity``."""

    type: Literal["drift"] = "drift"
    min_severity: Severity = "warning"
    min_share_drifted: float = Field(default=0.0, ge=0.0, le=1.0)


class PerformanceTrigger(_Spec):
    """Retrain on a performance alert (measured, or CBPE-estimated when ``estimated``), or
    when the latest ``metric`` point (measured or ``estimated.<metric>``) is below ``below``."""

    type: Literal["performance"] = "performance"
    metric: str | None = None
    below: float | None = None
    estimated: bool = True
    min_severity: Severity = "warning"


class ConceptShiftTrigger(_Spec):
    """Retrain when measured performance drops while the inputs did not drift (P(y|x) moved)."""

    type: Literal["concept_shift"] = "concept_shift"


TriggerSpec = Annotated[
    OnDemandTrigger | ScheduleTrigger | NewDataTrigger | DriftTrigger | PerformanceTrigger
    | ConceptShiftTrigger,
    Field(discriminator="type"),
]


_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """``"90s"``, ``"30m"``, ``"24h"``, ``"1d"``, ``"1h30m"`` or seconds -> a positive timedelta.

    Raises:
        ValueError: an unreadable or non-positive duration (pydantic names the field).
    """
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out = timedelta(seconds=float(value))
    else:
        raw = str(value).strip().lower()
        if re.fullmatch(r"(\d+(\.\d+)?[dhms])+", raw):
            out = timedelta(seconds=sum(float(n) * _UNITS[u] for n, _, u in
                                        re.findall(r"(\d+(\.\d+)?)([dhms])", raw)))
        else:  # seconds, or ISO 8601 ("PT30M", what a JSON dump of the policy writes)
            try:
                out = TypeAdapter(timedelta).validate_python(
                    float(raw) if re.fullmatch(r"\d+(\.\d+)?", raw) else str(value))
            except ValidationError:
                raise ValueError(f"a duration looks like '90s', '30m', '24h' or '1d', got "
                                 f"{value!r}") from None
    if out <= timedelta(0):
        raise ValueError(f"a duration must be positive, got {value!r}")
    return out


_KNOWN_FAMILIES = ("linear", "random_forest", "hist_gradient_boosting", "lightgbm", "xgboost")


class AutoMLSpec(_Spec):
    """Options of the built-in AutoML (``training.pipeline: automl``).

    Unset fields keep :class:`mlpilot.train.AutoMLConfig`'s defaults.
    """

    families: list[str] | None = None
    n_trials: int | None = Field(default=None, ge=1)
    sampler: Literal["tpe", "evolutionary"] | None = None
    metric: str | None = Field(default=None, min_length=1)
    task: Literal["classification", "regression"] | None = None
    cv: int | None = Field(default=None, ge=2)
    n_workers: int | None = Field(default=None, ge=1)
    seed: int | None = None

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        unknown = [f for f in value if f not in _KNOWN_FAMILIES]
        if not value or unknown:
            raise ValueError(f"families must be a non-empty list of {list(_KNOWN_FAMILIES)}, "
                             f"got unknown {unknown or value}")
        return value

    def options(self) -> dict[str, Any]:
        """The options set, as :meth:`AutoMLConfig.from_options` reads them."""
        return self.model_dump(exclude_none=True)


class TrainingSpec(_Spec):
    """What the trainer runs, on what data, within what budget.

    Attributes:
        pipeline: a registered ``@mlpilot.pipeline`` name, or ``"automl"`` (the default
            of :func:`mlpilot.train.run_training` when unset).
        params: extra keys passed to the trainer as they are.
        target: the label column of the training data.
        data: the training data: a dataset id, a dataset name (its newest snapshot) or
            ``name/N`` (its N-th snapshot, 1 the oldest).
        budget_seconds: the wall-clock budget of the search (AutoML).
        automl: AutoML options (only with ``pipeline: automl``).
        executor: where training runs: ``local`` or ``ray``.
    """

    pipeline: str | None = Field(default=None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    target: str | None = Field(default=None, min_length=1)
    data: str | None = Field(default=None, min_length=1)
    budget_seconds: float | None = Field(default=None, gt=0.0)
    automl: AutoMLSpec | None = None
    executor: Literal["local", "ray"] | None = None

    @field_validator("data")
    @classmethod
    def _dataset_ref(cls, value: str | None) -> str | None:
        if value is not None and "/" in value:
            name, _, number = value.rpartition("/")
            if not name or not number.isdigit() or int(number) < 1:
                raise ValueError(f"data is a dataset id, a name or 'name/N' with N >= 1 (the "
                                 f"N-th snapshot), got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainingSpec:
        automl = self.pipeline in (None, "automl")
        if self.automl is not None and not automl:
            raise ValueError(f"'automl' options need pipeline: automl, got pipeline "
                             f"{self.pipeline!r}")
        if automl and (self.pipeline is not None or self.automl is not None
                       or self.data is not None) and self.target is None:
            raise ValueError("AutoML needs 'target' (the label column of the training data)")
        return self

    def run_options(self) -> dict[str, Any]:
        """The policy :func:`mlpilot.train.run_training` reads (unset keys left out)."""
        spec: dict[str, Any] = {**self.params, "pipeline": self.pipeline,
                                "target": self.target, "data": self.data,
                                "budget_seconds": self.budget_seconds,
                                "automl": self.automl.options() if self.automl else None,
                                "executor": self.executor}
        return {k: v for k, v in spec.items() if v is not None}


class ChecksSpec(_Spec):
    """The CI gates a retrained candidate must pass before any deployment."""

    enabled: bool = True
    config: dict[str, Any] | str | None = None
    only: list[str] | None = None
    baseline: str = "production"
    data: str | None = None  # a dataset id (the holdout); default: the run's validation set


class WindowSpec(_Spec):
    """Deploy non-urgent candidates in the quietest forecast window.

    Attributes:
        duration: how long a rollout takes (the window's length).
        deadline: the latest start, counted from when the candidate was blessed.
        seasonality: ``daily`` or ``weekly`` traffic pattern.
        history: how much of the inference log the traffic forecast learns from.
    """

    duration: timedelta = timedelta(minutes=30)
    deadline: timedelta = timedelta(hours=24)
    seasonality: Literal["daily", "weekly"] = "daily"
    history: timedelta = timedelta(days=14)

    @field_validator("duration", "deadline", "history", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class PredictiveSpec(_Spec):
    """Roll a canary back *before* it breaks an SLO, and weigh each step by past rollouts.

    Attributes:
        enabled: forecast the canary's SLO metrics on every pass.
        horizon: how far ahead the forecast looks.
        confidence: roll back when P(SLO crossed within the horizon) reaches it.
        bucket_seconds: the canary's requests are summarised per bucket of this length.
        min_points: buckets (or monitor points) needed before forecasting.
        min_requests: requests a bucket needs to count.
        lookback: how far back the series goes (never before the rollout began).
        max_failure_probability: hold a canary step when the early-signal model of past
            rollouts gives a failure probability above this (``None``: only record it).
    """

    enabled: bool = True
    horizon: timedelta = timedelta(minutes=30)
    confidence: float = Field(default=0.9, gt=0.0, lt=1.0)
    bucket_seconds: float = Field(default=60.0, gt=0.0)
    min_points: int = Field(default=5, ge=3)
    min_requests: int = Field(default=10, ge=1)
    lookback: timedelta = timedelta(hours=2)
    max_failure_probability: float | None = Field(default=None, gt=0.0, le=1.0)

    @field_validator("horizon", "lookback", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class RolloutSpec(_Spec):
    """How a blessed candidate is deployed."""

    strategy: Literal["canary", "shadow", "single", "blue-green", "ab"] = "canary"
    deployment: str | None = None  # the endpoint; default: the model's name
    steps: list[float] | None = None
    min_step_seconds: float = Field(default=300.0, ge=0.0)
    max_inconclusive_seconds: float | None = Field(default=None, gt=0.0)
    window: WindowSpec | None = None
    predictive: PredictiveSpec = Field(default_factory=PredictiveSpec)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (not value or any(not 0 < s <= 1 for s in value)
                                  or value != sorted(value) or value[-1] != 1.0):
            raise ValueError(f"steps must increase within (0, 1] and end at 1.0, got {value}")
        return value


class BudgetSpec(_Spec):
    """Limits per rolling 24 hours; when one is spent the autopilot holds."""

    max_retrains_per_day: int | None = Field(default=3, ge=0)
    max_compute_seconds_per_day: float | None = Field(default=None, ge=0.0)


class ModelPolicy(_Spec):
    """Everything the autopilot may do for one model."""

    model: str = Field(min_length=1)
    enabled: bool = True
    triggers: list[TriggerSpec] = Field(default_factory=lambda: [OnDemandTrigger()])
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    slos: dict[str, Any] = Field(default_factory=dict)
    budgets: BudgetSpec = Field(default_factory=BudgetSpec)
    approval: list[Literal["retrain", "deploy", "promote", "rollback"]] = Field(
        default_factory=list)
    cooldown_seconds: float = Field(default=0.0, ge=0.0)

    @property
    def deployment(self) -> str:
        """The endpoint the model is rolled out on."""
        return self.rollout.deployment or self.model

    def needs_approval(self, action: str) -> bool:
        """Whether ``action`` waits for a human."""
        return action in self.approval


class PilotPolicy(_Spec):
    """The policies of every model the autopilot drives."""

    models: dict[str, ModelPolicy] = Field(default_factory=dict)

    def get(self, model: str) -> ModelPolicy:
        """The policy of ``model``. Raises NotFound-like InvalidArgument listing the models."""
        try:
            return self.models[model]
        except KeyError:
            raise InvalidArgument(f"The autopilot has no policy for model {model!r}. "
                                  f"Models with a policy: {sorted(self.models)}.") from None


def _format(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: the autopilot policy is invalid:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def parse_policy(data: dict[str, Any] | None, *, source: str = "policy") -> PilotPolicy:
    """Validate a mapping (``{"models": {name: {...}}}``, optionally under ``autopilot:``).

    Raises:
        InvalidArgument: naming every invalid field.
    """
    data = dict(data or {})
    if "autopilot" in data:
        data = dict(data["autopilot"] or {})
    models = data.get("models")
    if isinstance(models, dict):
        data["models"] = {name: {"model": name, **(spec or {})} if isinstance(spec, dict)
                          or spec is None else spec for name, spec in models.items()}
    try:
        return PilotPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(_format(exc, source)) from None


def load_policy(path: str | Path) -> PilotPolicy:
    """Read and validate the ``autopilot:`` section of ``mlpilot.yaml``.

    Raises:
        InvalidArgument: missing file, bad YAML, or an invalid field.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidArgument(f"No autopilot policy file at {str(file)!r}. Write an "
                              "mlpilot.yaml with an 'autopilot: models:' section.")
    try:
        parsed = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"{file} must hold a mapping at the top.")
    return parse_policy(parsed, source=str(file))
