"""How CLI commands reach the stores: one fresh context per invocation."""

from __future__ import annotations

from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context, set_context


def open_context() -> Context:
    """Build the context named by ``MLPILOT_*`` (``--home`` sets ``MLPILOT_HOME``).

    The context also becomes the SDK's default, so code the command calls (the
    demo, the API server) acts on the same stores.

    Raises:
        StoreUnavailable: if the metadata store cannot be reached or needs
            ``mlpilot db upgrade``.
        InvalidArgument: if the store or artifact URL is malformed.
    """
    context = Context.from_settings(Settings.from_env())
    set_context(context)
    return context
