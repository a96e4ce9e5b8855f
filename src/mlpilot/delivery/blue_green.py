"""Blue-green delivery: two versions, one serving all traffic, switched at once.

Switching rewrites the routes in one step (100/0): the standby keeps a 0-weight
route so the gateway keeps it loaded and a switch back is instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery.decision import Decision, make_routes


@dataclass(frozen=True)
class BlueGreen:
    """A blue-green pair.

    Attributes:
        active: the version serving all traffic.
        standby: the version kept loaded at weight 0.
        previous: the version that was active before the last switch, or
            ``None`` if there was none (then :meth:`switch_back` is refused).

    Raises:
        InvalidArgument: ``active == standby``.

    Example:
        >>> bg = BlueGreen(active=1, standby=2)
        >>> bg.switch().routes[0]
        Route(version=2, weight=1.0, role='primary')
        >>> bg.switched().switch_back().action
        'switch_back'
    """

    active: int
    standby: int
    previous: int | None = None

    def __post_init__(self) -> None:
        if self.active == self.standby:
            raise InvalidArgument(
                f"Blue-green needs two different versions. Got {self.active} twice.")

    def _routes(self, active: int, standby: int) -> tuple[Route, ...]:
        return make_routes({active: 1.0, standby: 0.0})

    def switch(self, reason: str = "") -> Decision:
        """Send all traffic to the standby (the active becomes standby)."""
        return Decision(
            "switch", reason or f"switch traffic from v{self.active} to v{self.standby}",
            {"previous": self.to_dict(), "next": self.switched().to_dict()},
            self._routes(self.standby, self.active))

    def switch_back(self, reason: str = "") -> Decision:
        """Undo the last switch: all traffic back to ``previous``.

        Raises:
            InvalidArgument: no switch to undo (``previous`` is ``None``).
        """
        if self.previous is None:
            raise InvalidArgument(
                f"Blue-green v{self.active}/v{self.standby} has no previous switch to undo. "
                "Use switch() instead.")
        after = BlueGreen(active=self.previous, standby=self.active)
        return Decision(
            "switch_back", reason or f"switch traffic back from v{self.active} to "
            f"v{self.previous}", {"previous": self.to_dict(), "next": after.to_dict()},
            self._routes(self.previous, self.active))

    def switched(self) -> BlueGreen:
        """The pair after :meth:`switch` is applied."""
        return BlueGreen(active=self.standby, standby=self.active, previous=self.active)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (for ``Deployment.params``)."""
        return {"active": self.active, "standby": self.standby, "previous": self.previous}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BlueGreen:
        """Rebuild from :meth:`to_dict`.

        Raises:
            InvalidArgument: a key is missing or malformed.
        """
        try:
            prev = data.get("previous")
            return cls(int(data["active"]), int(data["standby"]),
                       None if prev is None else int(prev))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(f"A saved blue-green state is malformed: {e!r}.") from e
