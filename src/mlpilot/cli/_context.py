"""How CLI commands reach the stores: one fresh context per invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlpilot.sdk._context import Context


def open_context() -> Context:
    """Build the context named by ``MLPILOT_*`` (``--home`` sets ``MLPILOT_HOME``).

    The context also becomes the SDK's default, so code the command calls (the
    demo, the API server) acts on the same stores.

    Raises:
        StoreUnavailable: if the metadata store cannot be reached or needs
            ``mlpilot db upgrade``.
        InvalidArgument: if the store or artifact URL is malformed.
    """
    # Imported here: SQLAlchemy and Alembic take most of a second to load, and
    # `mlpilot --help` or a usage error should not wait for them.
    from mlpilot.core.settings import Settings
    from mlpilot.sdk._context import Context, set_context

    context = Context.from_settings(Settings.from_env())
    set_context(context)
    return context
