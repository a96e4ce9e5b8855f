"""What the autopilot does, through the same APIs a person uses: train, check, deploy.

Each function here is one idempotent step of a decision. It may be called again
for the same decision after a crash and must then find its earlier effect
(a version tagged with the decision id, a deployment already routing the
version) instead of repeating it. Human approvals and on-demand requests are
decisions too, so every step of the loop is in the one decision log.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from mlpilot.core.entities import DecisionRecord, ModelVersion
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from mlpilot.pilot.policy import ModelPolicy
    from mlpilot.sdk._context import Context

DECISION_TAG = "mlpilot.decision"
REASON_TAG = "mlpilot.reason"
TARGET_KIND = "model"

_CURRENT: contextvars.ContextVar[DecisionRecord | None] = contextvars.ContextVar(
    "mlpilot_pilot_decision", default=None)


class Trainer(Protocol):
    """Trains and registers a new version of ``model``; returns it."""

    def __call__(self, context: Context, model: str, policy: ModelPolicy, *, reason: str,
                 parent_version: int | None) -> ModelVersion: ...


class TrainerUnavailable(InvalidArgument):
    """No training function could be found for the autopilot."""

    code = "trainer_unavailable"


def decision_tags() -> dict[str, str]:
    """Tags a trainer should put on the version it registers (empty outside the autopilot).

    With them, an autopilot restarted after a crash finds the version its
    interrupted retrain registered instead of training again.
    """
    decision = _CURRENT.get()
    if decision is None:
        return {}
    return {DECISION_TAG: str(decision.id), REASON_TAG: decision.reason[:200]}


@contextlib.contextmanager
def _acting_for(decision: DecisionRecord) -> Iterator[None]:
    token = _CURRENT.set(decision)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def default_trainer(context: Context, model: str, policy: ModelPolicy, *, reason: str,
                    parent_version: int | None) -> ModelVersion:
    """``mlpilot.train.run_training`` (imported on first use) with the policy's training block.

    The policy's ``training`` keys (``pipeline``, ``target``, ``data``, ``budget_seconds``,
    ``automl``, ``executor`` and any ``params``) become ``run_training``'s policy; inside a
    decision the version is tagged with its id (``mlpilot.decision`` and
    ``mlpilot.decision_id``) so a restarted autopilot finds it.

    Raises:
        TrainerUnavailable: ``mlpilot.train`` has no ``run_training``.
    """
    try:
        from mlpilot.train import run_training  # type: ignore[attr-defined]
    except ImportError as exc:
        raise TrainerUnavailable(
            f"The autopilot cannot retrain {model!r}: mlpilot.train.run_training is not "
            f"available ({exc}). Pass a trainer (Controller(trainer=...) or "
            "`mlpilot autopilot --trainer module:function`)."
        ) from None
    decision = _CURRENT.get()
    spec = policy.training.run_options()
    if decision is not None:
        spec["decision_id"] = decision.id
    tags = {DECISION_TAG: str(decision.id)} if decision is not None else {}
    version: ModelVersion = run_training(context, model, spec, reason=reason,
                                         parent_version=parent_version, **tags)
    return version


def find_trained_version(context: Context, model: str, decision_id: int) -> ModelVersion | None:
    """The version registered for retrain decision ``decision_id``, if any."""
    try:
        versions = context.store.list_versions(model)
    except NotFound:
        return None
    wanted = str(decision_id)
    return next((v for v in versions if wanted in (v.tags.get(DECISION_TAG),
                                                    v.tags.get("mlpilot.decision_id"))), None)


def retrain(context: Context, policy: ModelPolicy, decision: DecisionRecord,
            trainer: Trainer) -> tuple[str, dict[str, Any]]:
    """Train once for ``decision`` (or find what an interrupted attempt registered)."""
    model = policy.model
    found = find_trained_version(context, model, decision.id)
    if found is not None:
        return "applied", {"version": found.version, "resumed": True, "compute_seconds": 0.0}
    parent = decision.evidence.get("parent_version")
    started = time.monotonic()
    try:
        with _acting_for(decision):
            version = trainer(context, model, policy,
                              reason=f"autopilot decision {decision.id}: {decision.reason}",
                              parent_version=parent)
    except TrainerUnavailable as exc:
        return "failed", {"error": exc.message, "compute_seconds": 0.0}
    except Exception as exc:  # a user's training code: record, never crash the loop
        return "failed", {"error": f"{type(exc).__name__}: {exc}",
                          "compute_seconds": round(time.monotonic() - started, 3)}
    seconds = round(time.monotonic() - started, 3)
    if version.tags.get(DECISION_TAG) != str(decision.id):
        context.store.annotate_version(model, version.version,
                                       tags={DECISION_TAG: str(decision.id)},
                                       reason=f"trained for autopilot decision {decision.id}")
    return "applied", {"version": version.version, "compute_seconds": seconds}


def check(context: Context, policy: ModelPolicy, version: int) -> tuple[str, dict[str, Any]]:
    """Run the policy's CI gates on ``model/version``; ``not_blessed`` when a gate failed."""
    from mlpilot.checks import run_checks

    spec = policy.checks
    if not spec.enabled:
        return "applied", {"version": version, "blessed": True, "skipped": "checks disabled"}
    data = None
    if spec.data:
        from mlpilot.sdk._datasets import load_dataset

        data = load_dataset(spec.data, context=context)
    try:
        report = run_checks(f"{policy.model}/{version}", baseline=spec.baseline, data=data,
                            config=spec.config, only=spec.only, context=context)
    except (InvalidArgument, NotFound) as exc:
        return "failed", {"version": version, "error": exc.message}
    failures = [r.check for r in report.blocking_failures]
    detail = {"version": version, "blessed": report.blessed, "blocking_failures": failures,
              "results": {r.check: str(r.verdict) for r in report.results}}
    return ("applied" if report.blessed else "not_blessed"), detail


def deploy(context: Context, policy: ModelPolicy, version: int,
           reason: str) -> tuple[str, dict[str, Any]]:
    """Roll ``version`` out per the policy (or find it already rolled out)."""
    from mlpilot.sdk._deploy import UnblessedVersion
    from mlpilot.sdk._deploy import deploy as sdk_deploy

    store, name, model = context.store, policy.deployment, policy.model
    try:
        current = store.get_deployment(name)
    except NotFound:
        current = None
    if current is not None and any(r.version == version for r in current.routes) \
            and not current.params.get("phase"):
        return "applied", {"version": version, "deployment": name, "resumed": True,
                           "revision": current.revision}
    production = store.get_model(model).aliases.get("production")
    strategy = policy.rollout.strategy
    params: dict[str, Any] = {}
    if production is None or production == version:
        strategy = "single"  # nothing to compare against: the first version goes live
    elif strategy == "canary":
        if policy.rollout.steps:
            params["steps"] = list(policy.rollout.steps)
    try:
        dep = sdk_deploy(model, version, strategy=strategy, name=name, params=params,
                         slos=policy.slos or None, reason=reason, context=context)
    except (UnblessedVersion, InvalidArgument, NotFound, Conflict) as exc:
        return "failed", {"version": version, "error": exc.message}
    detail: dict[str, Any] = {"version": version, "deployment": name, "strategy": strategy,
                              "revision": dep.revision,
                              "routes": [[r.version, r.weight, r.role] for r in dep.routes]}
    if strategy == "single" and production != version:
        store.set_alias(model, "production", version, reason=reason)
        detail["production"] = {"from": production, "to": version}
    return "applied", detail


# -- humans ---------------------------------------------------------------------------
def request_retrain(store: Any, model: str, reason: str = "") -> DecisionRecord:
    """Ask the autopilot to retrain ``model`` (the ``on_demand`` trigger picks it up)."""
    store.get_model(model)  # NotFound early, with the store's message
    return store.record_decision("request_retrain", TARGET_KIND, model,
                                 reason=reason or "retrain requested",
                                 evidence={"key": None})


def _pending_ask(store: Any, decision_id: int) -> DecisionRecord:
    for d in store.list_decisions(action="ask_human", limit=10_000):
        if d.id == decision_id:
            if d.outcome != "pending":
                raise Conflict(f"Decision {decision_id} was already answered ({d.outcome}).",
                               outcome=d.outcome)
            return d
    raise NotFound(f"No decision {decision_id} asks for a human. See `mlpilot autopilot "
                   "pending` for those that do.")


def approve_decision(store: Any, decision_id: int, by: str, note: str = "") -> DecisionRecord:
    """Approve a pending ``ask_human`` decision; the autopilot acts on its next pass.

    Raises:
        NotFound: no such decision asking for a human. Conflict: already answered.
    """
    ask = _pending_ask(store, decision_id)
    if ask.evidence.get("action") not in ("retrain", "deploy", "promote", "rollback"):
        raise InvalidArgument(f"Decision {decision_id} reports a problem for a human to fix "
                              f"({ask.reason}); there is nothing to approve. Fix the cause and "
                              "resolve the alert, or reject it to dismiss it.")
    return store.set_decision_outcome(decision_id, "approved", {"by": by, "note": note})


def reject_decision(store: Any, decision_id: int, by: str, note: str = "") -> DecisionRecord:
    """Reject (or dismiss) a pending ``ask_human`` decision.

    Raises:
        NotFound: no such decision asking for a human. Conflict: already answered.
    """
    _pending_ask(store, decision_id)
    return store.set_decision_outcome(decision_id, "rejected", {"by": by, "note": note})
