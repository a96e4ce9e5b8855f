"""The serving gateway: routes requests to loaded model versions, validates, logs.

>>> from mlpilot.serve.gateway import GatewaySettings
>>> GatewaySettings().max_batch_rows
10000
"""

from mlpilot.serve.gateway.app import create_gateway
from mlpilot.serve.gateway.feedback import Feedback, read_feedback
from mlpilot.serve.gateway.reconciler import Reconciler
from mlpilot.serve.gateway.routing import RoutingPolicy, RoutingTable, ServedModel, WeightedPolicy
from mlpilot.serve.gateway.server import serve_gateway
from mlpilot.serve.gateway.settings import GatewaySettings

__all__ = [
    "Feedback",
    "GatewaySettings",
    "Reconciler",
    "RoutingPolicy",
    "RoutingTable",
    "ServedModel",
    "WeightedPolicy",
    "create_gateway",
    "read_feedback",
    "serve_gateway",
]
