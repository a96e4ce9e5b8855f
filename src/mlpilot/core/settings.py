"""Where mlpilot keeps things, read from the environment once per call site.

``MLPILOT_HOME``          root of the embedded install (default ``./.mlpilot``)
``MLPILOT_STORE_URL``     metadata store URL (default SQLite ``$MLPILOT_HOME/mlpilot.db``)
``MLPILOT_ARTIFACT_URL``  artifact store root (default ``$MLPILOT_HOME/artifacts``; any fsspec URL)
``MLPILOT_ACTOR``         who mutations are attributed to (default the OS user)
``MLPILOT_ALERT_WEBHOOK`` URL(s) alerts are POSTed to, comma-separated (default none)
``MLPILOT_ALERT_WEBHOOK_SECRET``   HMAC-SHA256 key signing each webhook body (optional)
``MLPILOT_ALERT_RENOTIFY_MINUTES`` least minutes between reminders of an ongoing alert (60)
``MLPILOT_ALERT_MIN_SEVERITY``     least severity that notifies: info, warning, critical (info)
"""

from __future__ import annotations

import getpass
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from mlpilot.core.errors import InvalidArgument

_SEVERITIES = ("info", "warning", "critical")  # mirrors entities.ALERT_SEVERITIES


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def _renotify_minutes() -> float:
    text = os.environ.get("MLPILOT_ALERT_RENOTIFY_MINUTES", "").strip()
    if not text:
        return 60.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument("MLPILOT_ALERT_RENOTIFY_MINUTES must be a number of minutes "
                              f">= 0. Got {text[:40]!r}; unset it for the default of 60.")
    return value


def _min_severity() -> str:
    value = os.environ.get("MLPILOT_ALERT_MIN_SEVERITY", "").strip().lower() or "info"
    if value not in _SEVERITIES:
        raise InvalidArgument(f"MLPILOT_ALERT_MIN_SEVERITY must be one of {_SEVERITIES}. "
                              f"Got {value[:40]!r}.")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved locations and identity for one process."""

    home: Path
    store_url: str
    artifact_url: str
    actor: str
    alert_webhooks: tuple[str, ...] = ()
    alert_webhook_secret: str = field(default="", repr=False)
    alert_renotify_minutes: float = 60.0
    alert_min_severity: str = "info"

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Build settings from arguments and ``MLPILOT_*`` environment variables."""
        root = Path(home or os.environ.get("MLPILOT_HOME") or ".mlpilot").expanduser().absolute()
        store_url = os.environ.get("MLPILOT_STORE_URL") or f"sqlite:///{root / 'mlpilot.db'}"
        artifact_url = os.environ.get("MLPILOT_ARTIFACT_URL") or str(root / "artifacts")
        actor = os.environ.get("MLPILOT_ACTOR") or _default_actor()
        webhooks = tuple(u.strip() for u in os.environ.get("MLPILOT_ALERT_WEBHOOK", "").split(",")
                         if u.strip())
        return cls(home=root, store_url=store_url, artifact_url=artifact_url, actor=actor,
                   alert_webhooks=webhooks,
                   alert_webhook_secret=os.environ.get("MLPILOT_ALERT_WEBHOOK_SECRET", ""),
                   alert_renotify_minutes=_renotify_minutes(),
                   alert_min_severity=_min_severity())

    def ensure_home(self) -> None:
        """Create the home directory, private to its owner (0700)."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
