"""Check look-up by name. Built-in checks import lazily (SHAP, fairlearn are heavy)."""

from __future__ import annotations

import importlib
from typing import Any

from mlpilot.checks._base import Check
from mlpilot.core.errors import InvalidArgument

_BUILTIN: dict[str, str] = {
    "data_validation": "mlpilot.checks.data_validation:DataValidationCheck",
    "data_quality": "mlpilot.checks.data_quality:DataQualityCheck",
    "model_sanity": "mlpilot.checks.model_sanity:ModelSanityCheck",
    "performance": "mlpilot.checks.performance:PerformanceCheck",
    "fairness": "mlpilot.checks.fairness:FairnessCheck",
    "explainability": "mlpilot.checks.explainability:ExplainabilityCheck",
    "robustness": "mlpilot.checks.robustness:RobustnessCheck",
    "code": "mlpilot.checks.code_analysis:CodeAnalysisCheck",
    "budgets": "mlpilot.checks.budgets:BudgetCheck",
}
_EXTRA: dict[str, type[Check]] = {}


def available_checks() -> list[str]:
    """Names of every check, built-in and registered."""
    return sorted({*_BUILTIN, *_EXTRA})


def register_check(cls: type[Check]) -> type[Check]:
    """Make a user-defined check available by its ``name`` (usable as a decorator)."""
    _EXTRA[cls.name] = cls
    return cls


def get_check_class(name: str) -> type[Check]:
    """The class of the check called ``name``.

    Raises:
        InvalidArgument: listing the available names.
    """
    if name in _EXTRA:
        return _EXTRA[name]
    target = _BUILTIN.get(name)
    if target is None:
        raise InvalidArgument(f"No check named {name!r}. Available: {available_checks()}.")
    module, attr = target.split(":")
    cls: type[Check] = getattr(importlib.import_module(module), attr)
    return cls


def build_check(name: str, params: dict[str, Any] | None = None) -> Check:
    """Instantiate a check from its configuration block.

    Raises:
        InvalidArgument: unknown check or unknown/invalid parameter.
    """
    cls = get_check_class(name)
    params = {k: v for k, v in (params or {}).items() if k != "enabled"}
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidArgument(f"Bad configuration for check {name!r}: {exc}.") from None
