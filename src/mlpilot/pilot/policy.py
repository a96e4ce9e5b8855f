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
          training: {pipeline: pipelines/credit.yaml}
          checks: {only: [data_validation, model_sanity, performance]}
          rollout: {strategy: canary, steps: [0.1, 0.5, 1.0]}
          slos: {latency_p99_ms: 200}
          budgets: {max_retrains_per_day: 2, max_compute_seconds_per_day: 3600}
          approval: [promote]

Validation errors name the field (``models.credit-risk.triggers.0.cron``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class TrainingSpec(_Spec):
    """What the trainer runs: a pipeline reference and its parameters."""

    pipeline: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ChecksSpec(_Spec):
    """The CI gates a retrained candidate must pass before any deployment."""

    enabled: bool = True
    config: dict[str, Any] | str | None = None
    only: list[str] | None = None
    baseline: str = "production"
    data: str | None = None  # a dataset id (the holdout); default: the run's validation set


class RolloutSpec(_Spec):
    """How a blessed candidate is deployed."""

    strategy: Literal["canary", "shadow", "single", "blue-green", "ab"] = "canary"
    deployment: str | None = None  # the endpoint; default: the model's name
    steps: list[float] | None = None
    min_step_seconds: float = Field(default=300.0, ge=0.0)
    max_inconclusive_seconds: float | None = Field(default=None, gt=0.0)

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
