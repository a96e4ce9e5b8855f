"""The process-wide default store and artifact store, built lazily from settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mlpilot.core.settings import Settings
from mlpilot.store import Store
from mlpilot.store.artifacts import ArtifactStore, get_artifact_store


@dataclass(frozen=True)
class Context:
    """What the SDK functions act on: settings, metadata store, artifact store."""

    settings: Settings
    store: Store
    artifacts: ArtifactStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """Open the stores the settings name (creating the home directory if local)."""
        if settings.store_url.startswith("sqlite") or "://" not in settings.artifact_url:
            settings.ensure_home()
        store = Store.open(settings.store_url, actor=settings.actor)
        artifacts = get_artifact_store(settings.artifact_url)
        return cls(settings=settings, store=store, artifacts=artifacts)


_lock = threading.Lock()
_current: Context | None = None


def get_context() -> Context:
    """The default context, built from ``MLPILOT_*`` variables on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Context.from_settings(Settings.from_env())
        return _current


def set_context(context: Context | None) -> None:
    """Replace the default context (``None`` resets it; tests use this)."""
    global _current
    with _lock:
        if _current is not None and _current is not context:
            _current.store.close()
        _current = context
