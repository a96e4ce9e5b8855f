"""The control-plane REST API (FastAPI), versioned under ``/api/v1``.

Example::

    from mlpilot.api import create_app, serve
    serve(context, host="0.0.0.0", port=8080)   # tokens required off loopback
"""

from mlpilot.api.app import API_PREFIX, create_app
from mlpilot.api.server import auth_default, is_loopback, serve

__all__ = ["API_PREFIX", "auth_default", "create_app", "is_loopback", "serve"]
