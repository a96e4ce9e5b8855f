"""The `mlpilot demo`: the whole loop on a synthetic credit-risk problem."""

from mlpilot.demo.credit import make_credit_data
from mlpilot.demo.run import run_demo

__all__ = ["make_credit_data", "run_demo"]
