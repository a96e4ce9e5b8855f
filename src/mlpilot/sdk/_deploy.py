"""``mlpilot deploy``: write a deployment's desired state; the gateways reconcile with it."""

from __future__ import annotations

from typing import Any

from mlpilot.core.entities import Deployment, ModelVersion, Route
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.sdk._context import Context, get_context
from mlpilot.store._sql.deployments import STRATEGIES

DEFAULT_CANARY_STEPS = (0.05, 0.25, 0.5, 1.0)


class UnblessedVersion(Conflict):
    """The version failed a blocking check; deploying it needs ``force``."""

    code = "unblessed_version"


def _blocking_failures(version: ModelVersion) -> list[str]:
    report = version.check_report or {}
    return [r["check"] for r in report.get("results", [])
            if r.get("severity") == "blocking" and r.get("verdict") in ("fail", "error")]


def _routes(strategy: str, candidate: int, baseline: int | None,
            params: dict[str, Any]) -> tuple[list[Route], dict[str, Any]]:
    """The initial routes (and normalised params) for a strategy."""
    if strategy == "single" or baseline is None or baseline == candidate:
        if strategy not in ("single", "blue-green"):
            raise InvalidArgument(
                f"The {strategy!r} strategy compares two versions, but there is no baseline "
                "(no production alias, or it is the same version). Pass --baseline N, or "
                "use --strategy single."
            )
        if strategy == "blue-green":  # nothing to stand by yet: switch is refused until then
            return [Route(candidate, 1.0)], {**params, "active": candidate, "standby": None,
                                             "previous": None}
        return [Route(candidate, 1.0)], params
    if strategy == "canary":
        steps = tuple(float(s) for s in params.get("steps", DEFAULT_CANARY_STEPS))
        if not steps or any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(steps):
            raise InvalidArgument(f"Canary steps must increase within (0, 1]. Got {steps}.")
        first = steps[0]
        return ([Route(baseline, 1 - first), Route(candidate, first, "canary")],
                {**params, "steps": list(steps), "step": 0, "baseline": baseline})
    if strategy == "shadow":
        return [Route(baseline, 1.0), Route(candidate, 0.0, "shadow")], {**params,
                                                                       "baseline": baseline}
    if strategy in ("ab", "bandit"):
        split = float(params.get("split", 0.5))
        if not 0 < split < 1:
            raise InvalidArgument(f"The A/B split must be in (0, 1). Got {split}.")
        return ([Route(baseline, 1 - split), Route(candidate, split)],
                {**params, "split": split, "baseline": baseline})
    from mlpilot.delivery.blue_green import BlueGreen  # scipy & co: only when needed
    from mlpilot.delivery.decision import make_routes

    # blue-green: the candidate takes all traffic at once; the baseline stays loaded at
    # weight 0 (instant switch-back), and is what a switch-back returns to
    pair = BlueGreen(active=candidate, standby=baseline, previous=baseline)
    return list(make_routes({candidate: 1.0, baseline: 0.0})), {**params, **pair.to_dict()}


def deploy(
    model: str,
    version: int,
    *,
    strategy: str = "single",
    name: str | None = None,
    baseline: int | None = None,
    params: dict[str, Any] | None = None,
    slos: dict[str, Any] | None = None,
    force: bool = False,
    reason: str = "",
    context: Context | None = None,
) -> Deployment:
    """Write the desired state of endpoint ``name`` (default: the model's name).

    Args:
        strategy: single, canary, shadow, ab, bandit or blue-green.
        baseline: the version compared against (default: the ``production`` alias).
        params: strategy parameters (canary ``steps``, A/B ``split``, …).
        force: deploy even if the version failed a blocking check; the override is
            recorded in the audit event's reason.

    Raises:
        UnblessedVersion: the version failed a blocking check and ``force`` is off.
        InvalidArgument: unknown strategy, or a two-version strategy without a baseline.
        NotFound: unknown model or version.
    """
    ctx = context or get_context()
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"No deployment strategy named {strategy!r}. "
                              f"Available: {list(STRATEGIES)}.")
    candidate = ctx.store.get_version(model, version)
    failures = _blocking_failures(candidate)
    if failures and not force:
        raise UnblessedVersion(
            f"Version {candidate.ref} failed blocking checks {failures}; it is not blessed. "
            "Fix it and run `mlpilot check` again, or pass --force (recorded in the audit log).",
            failed_checks=failures,
        )
    if baseline is None:
        try:
            baseline = ctx.store.resolve(f"{model}@production").version
        except (NotFound, InvalidArgument):
            baseline = None
    routes, full_params = _routes(strategy, version, baseline, dict(params or {}))
    note = reason or f"deploy {candidate.ref} ({strategy})"
    if failures:
        note = f"{note} — FORCED despite failing blocking checks {failures}"
    return ctx.store.put_deployment(name or model, model=model, strategy=strategy,
                                    routes=routes, params=full_params, slos=slos or {},
                                    reason=note)


def switch(name: str, *, reason: str = "", context: Context | None = None) -> Deployment:
    """Blue-green: send all of endpoint ``name``'s traffic to its standby version, at once.

    The active version becomes the standby (kept loaded at weight 0), so
    :func:`switch_back` is instant too. Stored as a ``switch`` decision with its
    evidence, and audited.

    Args:
        name: the blue-green deployment.
        reason: why (kept with the decision and the audit event).

    Returns:
        The deployment after the switch.

    Raises:
        NotFound: no deployment has that name.
        InvalidArgument: not a blue-green deployment, or it has no standby version.
        Conflict: the deployment changed meanwhile; nothing was switched.
    """
    from mlpilot.delivery.blue_green_engine import BlueGreenController

    ctx = context or get_context()
    BlueGreenController(ctx.store).switch(name, reason)
    return ctx.store.get_deployment(name)


def switch_back(name: str, *, reason: str = "", context: Context | None = None) -> Deployment:
    """Blue-green: undo the last switch (or the deploy) of endpoint ``name``, at once.

    Args:
        name: the blue-green deployment.
        reason: why (kept with the decision and the audit event).

    Returns:
        The deployment after the switch back.

    Raises:
        NotFound: no deployment has that name.
        InvalidArgument: not a blue-green deployment, or no switch to undo.
        Conflict: the deployment changed meanwhile; nothing was switched.
    """
    from mlpilot.delivery.blue_green_engine import BlueGreenController

    ctx = context or get_context()
    BlueGreenController(ctx.store).switch_back(name, reason)
    return ctx.store.get_deployment(name)
