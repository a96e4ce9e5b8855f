"""The monitor's cursor: how far it has read, claimed under a lease so one monitor reads a window.

A cursor is a JSON mapping stored under a key (``monitor:<model>:<deployment|*>:
<version|*>:<seconds>s``): ``until`` (the end of the last processed window), the
``pending`` windows still waiting for labels, and while a monitor runs, its
``claim`` (owner, until, expiry). :class:`CursorLease` claims it by compare-and-set
(creating it only if absent on a first run), moves it after each window, and
releases it at the end; a crashed monitor's claim expires after ``lease_seconds``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.errors import Conflict
from mlpilot.core.jsonsafe import json_safe

if TYPE_CHECKING:
    from mlpilot.store import Store

__all__ = ["CURSOR_VERSION", "CursorLease", "floor_time", "from_iso", "to_iso"]

CURSOR_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_time(when: datetime, step: timedelta) -> datetime:
    """The start of the epoch-aligned ``step``-long window holding ``when``."""
    return _EPOCH + ((as_utc(when) - _EPOCH) // step) * step


def to_iso(when: datetime) -> str:
    """``when`` in UTC as ISO 8601 text (how the cursor stores times)."""
    return as_utc(when).isoformat()


def from_iso(text: str) -> datetime:
    """A time the cursor stored, back as an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(text))


class CursorLease:
    """One monitor's hold on a cursor; every write is compare-and-set against the last one.

    Args:
        store: the metadata store.
        key: the cursor's key.
        owner: this monitor's id (a claim by another owner makes the cursor busy).
        lease_seconds: how long a claim lasts without being released.
    """

    def __init__(self, store: Store, key: str, *, owner: str, lease_seconds: float) -> None:
        self.store, self.key, self.owner, self.lease_seconds = store, key, owner, lease_seconds
        self.held: dict[str, Any] = {}

    def read(self) -> dict[str, Any] | None:
        """The stored cursor (``None`` before the first run)."""
        return self.store.get_monitor_cursor(self.key)

    def busy(self, cursor: dict[str, Any] | None) -> bool:
        """True when another monitor holds an unexpired claim on ``cursor``."""
        claim = (cursor or {}).get("claim")
        return bool(claim) and claim.get("owner") != self.owner and \
            from_iso(claim["expires"]) > utcnow()

    def claim(self, read: dict[str, Any] | None, state: dict[str, Any], until: datetime) -> bool:
        """Claim the cursor read as ``read``, holding ``state``, to process up to ``until``.

        Returns:
            False when another monitor moved (or, on a first run, created) it meanwhile.
        """
        claimed = {**state, "claim": {"owner": self.owner, "until": to_iso(until),
                                      "expires": to_iso(utcnow() + timedelta(
                                          seconds=self.lease_seconds))}}
        try:
            if read is None:
                self.store.set_monitor_cursor(self.key, claimed, create_only=True)
            else:
                self.store.set_monitor_cursor(self.key, claimed, expected=read)
        except Conflict:
            return False
        self.held = json_safe(claimed)
        return True

    def advance(self, **changes: Any) -> dict[str, Any]:
        """Move the held cursor (Conflict if someone took it over)."""
        new = json_safe({**self.held, **changes})
        self.store.set_monitor_cursor(self.key, new, expected=self.held)
        self.held = new
        return new

    def release(self) -> dict[str, Any]:
        """Drop the claim and return the cursor as left (Conflict: it was taken over)."""
        final = {k: v for k, v in self.held.items() if k != "claim"}
        self.store.set_monitor_cursor(self.key, final, expected=self.held)
        self.held = final
        return final
