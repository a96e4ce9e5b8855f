"""The autopilot: policies per model, triggers, the controller and its leader lock.

    from mlpilot.pilot import Controller, load_policy
    Controller(mlpilot.get_context(), load_policy("mlpilot.yaml")).run_once()
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Controller": "mlpilot.pilot.controller",
    "PassReport": "mlpilot.pilot.controller",
    "LeaderBusy": "mlpilot.pilot.leader",
    "LeaderLock": "mlpilot.pilot.leader",
    "ModelPolicy": "mlpilot.pilot.policy",
    "PilotPolicy": "mlpilot.pilot.policy",
    "load_policy": "mlpilot.pilot.policy",
    "parse_policy": "mlpilot.pilot.policy",
    "Firing": "mlpilot.pilot.triggers",
    "Observation": "mlpilot.pilot.triggers",
    "approve_decision": "mlpilot.pilot.actions",
    "decision_tags": "mlpilot.pilot.actions",
    "reject_decision": "mlpilot.pilot.actions",
    "request_retrain": "mlpilot.pilot.actions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlpilot.pilot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
