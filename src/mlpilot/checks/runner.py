"""Run a suite of checks on a candidate version and store the report on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._context import CheckContext, Task
from mlpilot.checks._registry import available_checks, build_check
from mlpilot.checks._report import CheckReport
from mlpilot.core.clock import utcnow
from mlpilot.core.entities import ModelVersion
from mlpilot.core.errors import InvalidArgument, MlpilotError, NotFound
from mlpilot.sdk._context import Context, get_context
from mlpilot.sdk._datasets import _as_frame, load_dataset
from mlpilot.sdk._registry import load

DEFAULT_SUITE = (
    "data_validation", "data_quality", "model_sanity", "performance", "fairness",
    "explainability", "robustness", "code", "budgets",
)


def load_config(config: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """Parse a ``checks.yaml`` (or pass a dict through).

    Raises:
        InvalidArgument: if the file is missing, not YAML, or not a mapping.
    """
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    path = Path(config)
    if not path.is_file():
        raise InvalidArgument(f"No check configuration file at {str(path)!r}.")
    try:
        parsed = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"The check configuration {path} is not valid YAML: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"The check configuration {path} must be a mapping at the top.")
    unknown = set(parsed.get("checks", {}) or {}) - set(available_checks())
    if unknown:
        raise InvalidArgument(
            f"Unknown checks in {path}: {sorted(unknown)}. Available: {available_checks()}."
        )
    return parsed


def suite_names(config: dict[str, Any], only: Sequence[str] | None = None) -> list[str]:
    """The names of the checks to run: the default suite (or ``only``) minus disabled ones."""
    blocks = config.get("checks", {}) or {}
    names = list(only) if only else [*DEFAULT_SUITE, *(n for n in blocks if n not in
                                                       DEFAULT_SUITE)]
    unknown = [n for n in names if n not in available_checks()]
    if unknown:
        raise InvalidArgument(f"No check named {unknown[0]!r}. Available: {available_checks()}.")
    return [n for n in names if (blocks.get(n) or {}).get("enabled", True) is not False]


def build_suite(config: dict[str, Any], only: Sequence[str] | None = None) -> list[Check]:
    """The checks to run, instantiated with their parameters."""
    blocks = config.get("checks", {}) or {}
    return [build_check(name, blocks.get(name) or {}) for name in suite_names(config, only)]


def _resolve_baseline(ctx: Context, candidate: ModelVersion,
                      baseline: str | None) -> ModelVersion | None:
    if not baseline:
        return None
    ref = baseline if ("/" in baseline or "@" in baseline) else f"{candidate.model}@{baseline}"
    try:
        found = ctx.store.resolve(ref)
    except NotFound:
        return None
    return None if found.ref == candidate.ref else found


def _default_holdout(ctx: Context, candidate: ModelVersion) -> pd.DataFrame | None:
    """The dataset the producing run logged with role 'validation', if any."""
    if not candidate.run_id:
        return None
    lineage = ctx.store.lineage(candidate.model, candidate.version)
    for edge in lineage.edges:
        if edge.target_kind == "run" and edge.relation == "validation":
            return load_dataset(edge.source_id, context=ctx)
    return None


def _infer_target(data: pd.DataFrame | None, *versions: ModelVersion | None) -> str | None:
    """The one holdout column that no compared model takes as input, if there is one."""
    if data is None:
        return None
    inputs = {c["name"] for v in versions if v and v.signature
              for c in v.signature.get("inputs", [])}
    if not inputs:
        return None
    extra = [c for c in data.columns if c not in inputs]
    return extra[0] if len(extra) == 1 else None


def _infer_task(candidate: ModelVersion) -> Task:
    outputs = (candidate.signature or {}).get("outputs") or {}
    if outputs.get("classes") is not None:
        return "classification"
    return "regression" if outputs.get("dtype") == "float" else "classification"


def _instantiate(config: dict[str, Any],
                 only: Sequence[str] | None) -> list[tuple[str, Check | ImportError]]:
    """Build every check up front, so a bad parameter fails before anything runs."""
    blocks = config.get("checks", {}) or {}
    suite: list[tuple[str, Check | ImportError]] = []
    for name in suite_names(config, only):
        try:
            suite.append((name, build_check(name, blocks.get(name) or {})))
        except ImportError as exc:
            suite.append((name, exc))
    return suite


def _carry_over(previous: dict[str, Any], fresh: list[CheckResult]) -> list[CheckResult]:
    """Keep earlier results of the checks a partial run (``only=``) did not repeat.

    Otherwise running one check would erase the others' evidence (and, with it,
    state such as the golden-set digest that later runs verify against).
    """
    ran = {r.check for r in fresh}
    kept = []
    for data in previous.get("results", []):
        if data.get("check") not in ran:
            old = CheckResult.from_dict(data)
            evidence = {"carried_from": previous.get("created_at"), **old.evidence}
            kept.append(CheckResult(old.check, old.verdict, old.severity, old.summary,
                                    evidence, old.duration_s))
    order = {name: i for i, name in enumerate(DEFAULT_SUITE)}
    return sorted([*kept, *fresh], key=lambda r: order.get(r.check, len(order)))


def run_checks(
    ref: str,
    *,
    baseline: str | None = "production",
    data: pd.DataFrame | str | Path | None = None,
    target: str | None = None,
    config: dict[str, Any] | str | Path | None = None,
    only: Sequence[str] | None = None,
    output_dir: str | Path | None = None,
    store_report: bool = True,
    on_result: Callable[[CheckResult], None] | None = None,
    context: Context | None = None,
) -> CheckReport:
    """Check ``ref`` (``model/3``, ``model@candidate``) and return the report.

    The report is stored on the version (``check_report``) and tagged
    ``blessed=true|false`` unless ``store_report`` is off.

    Args:
        baseline: an alias of the same model or a full reference; the performance
            check compares against it (skipped when it does not exist).
        data: the holdout, label included; default: the run's validation dataset.
        target: the label column; default: ``config["target"]`` or the one holdout
            column that is not a model input.
        config: ``checks.yaml`` path or dict: ``target``, ``task``,
            ``sensitive_features``, ``seed`` and ``checks: {name: {params}}``.
        only: run just these checks.
        on_result: called after each check (progress display).

    Raises:
        NotFound: unknown model/version.
        InvalidArgument: bad configuration or data.
    """
    ctx = context or get_context()
    cfg = load_config(config)
    candidate = ctx.store.resolve(ref)
    model = load(candidate.ref, trust=cfg.get("trust"), context=ctx)
    base = _resolve_baseline(ctx, candidate, baseline)
    base_model = load(base.ref, trust=cfg.get("trust"), context=ctx) if base else None
    frame = _as_frame(data) if data is not None else _default_holdout(ctx, candidate)
    target = target or cfg.get("target") or _infer_target(frame, candidate, base)
    if frame is not None and target is not None and target not in frame.columns:
        raise InvalidArgument(
            f"The label column {target!r} is not in the holdout. Columns: {list(frame.columns)}."
        )
    reference = ctx.store.get_dataset(candidate.dataset_id) if candidate.dataset_id else None
    out = Path(output_dir) if output_dir else (
        ctx.settings.home / "reports" / candidate.model / str(candidate.version))
    check_ctx = CheckContext(
        context=ctx, candidate=candidate, model=model, baseline=base, baseline_model=base_model,
        data=frame, target=target, task=cfg.get("task") or _infer_task(candidate),
        reference=reference,
        run=ctx.store.get_run(candidate.run_id) if candidate.run_id else None,
        sensitive_features=tuple(cfg.get("sensitive_features", ())), config=cfg,
        seed=int(cfg.get("seed", 0)), output_dir=out,
    )
    results = []
    for name, check in _instantiate(cfg, only):
        if isinstance(check, ImportError):  # e.g. an optional dependency is missing
            results.append(CheckResult(name, Verdict.ERROR, Severity.BLOCKING,
                                       f"The check could not be imported: {check}"))
            continue
        try:
            result = check.run(check_ctx)
        except MlpilotError as exc:
            result = check.result(Verdict.ERROR, f"{type(exc).__name__}: {exc.message}")
        except Exception as exc:  # one broken check must not hide the others
            result = check.result(Verdict.ERROR, f"{type(exc).__name__}: {exc}")
        results.append(result)
        if on_result:
            on_result(result)
    if only and candidate.check_report:
        results = _carry_over(candidate.check_report, results)
    report = CheckReport(
        candidate=candidate.ref, baseline=base.ref if base else None, results=tuple(results),
        created_at=utcnow(),
        data={"rows": None if frame is None else len(frame), "target": target,
              "task": check_ctx.task,
              "reference_dataset": reference.id if reference else None},
    )
    if store_report:
        ctx.store.annotate_version(
            candidate.model, candidate.version, check_report=report.to_dict(),
            tags={"blessed": str(report.blessed).lower()},
            reason=f"mlpilot check: {'blessed' if report.blessed else 'not blessed'} "
                   f"({len(report.blocking_failures)} blocking failures)",
        )
    return report
