"""CI for ML: the gates a candidate version must pass, with evidence.

    report = mlpilot.checks.run_checks("credit-risk/2", baseline="production")
    report.blessed, report.get("fairness").evidence
"""

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._context import CheckContext
from mlpilot.checks._registry import available_checks, build_check, get_check_class, register_check
from mlpilot.checks._report import REPORT_SCHEMA_VERSION, CheckReport
from mlpilot.checks.runner import DEFAULT_SUITE, build_suite, load_config, run_checks

__all__ = [
    "DEFAULT_SUITE",
    "REPORT_SCHEMA_VERSION",
    "Check",
    "CheckContext",
    "CheckReport",
    "CheckResult",
    "Severity",
    "Verdict",
    "available_checks",
    "build_check",
    "build_suite",
    "get_check_class",
    "load_config",
    "register_check",
    "run_checks",
]
