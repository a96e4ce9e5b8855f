"""Where mlpilot keeps things, read from the environment once per call site.

``MLPILOT_HOME``          root of the embedded install (default ``./.mlpilot``)
``MLPILOT_STORE_URL``     metadata store URL (default SQLite ``$MLPILOT_HOME/mlpilot.db``)
``MLPILOT_ARTIFACT_URL``  artifact store root (default ``$MLPILOT_HOME/artifacts``; any fsspec URL)
``MLPILOT_ACTOR``         who mutations are attributed to (default the OS user)
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


@dataclass(frozen=True)
class Settings:
    """Resolved locations and identity for one process."""

    home: Path
    store_url: str
    artifact_url: str
    actor: str

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Build settings from arguments and ``MLPILOT_*`` environment variables."""
        root = Path(home or os.environ.get("MLPILOT_HOME") or ".mlpilot").expanduser().absolute()
        store_url = os.environ.get("MLPILOT_STORE_URL") or f"sqlite:///{root / 'mlpilot.db'}"
        artifact_url = os.environ.get("MLPILOT_ARTIFACT_URL") or str(root / "artifacts")
        actor = os.environ.get("MLPILOT_ACTOR") or _default_actor()
        return cls(home=root, store_url=store_url, artifact_url=artifact_url, actor=actor)

    def ensure_home(self) -> None:
        """Create the home directory, private to its owner (0700)."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
