"""The web UI: server-rendered pages over the store, on the control-plane server.

Pages live under ``/ui`` (models, versions with lineage, deployments, monitoring,
alerts with their diagnosis, decisions, the audit log). Templates are Jinja2 with
autoescaping; htmx and uPlot are vendored under ``static/vendor`` (no CDN, no
Node build). Sign-in uses the API's tokens (see :mod:`mlpilot.ui._auth`).
"""

from mlpilot.ui._app import UI_PREFIX, create_ui_app, mount_ui

__all__ = ["UI_PREFIX", "create_ui_app", "mount_ui"]
