"""A check report: every result for one candidate, and whether it is blessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlpilot.checks._base import CheckResult, Verdict
from mlpilot.core.clock import as_utc

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CheckReport:
    """The results of one ``mlpilot check`` run. ``blessed`` iff no blocking check failed."""

    candidate: str
    baseline: str | None
    results: tuple[CheckResult, ...]
    created_at: datetime
    data: dict[str, Any]

    @property
    def blessed(self) -> bool:
        """True when every blocking check passed (warnings and skips do not block)."""
        return not any(r.blocks for r in self.results)

    @property
    def blocking_failures(self) -> list[CheckResult]:
        """The results that stop the candidate."""
        return [r for r in self.results if r.blocks]

    def counts(self) -> dict[str, int]:
        """How many results per verdict."""
        return {v.value: sum(r.verdict is v for r in self.results) for v in Verdict}

    def get(self, check: str) -> CheckResult:
        """The result of the check named ``check``.

        Raises:
            KeyError: if no such check ran.
        """
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(f"No result for check {check!r}; ran {[r.check for r in self.results]}")

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON form stored on the version and written by ``--json``."""
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "blessed": self.blessed,
            "created_at": self.created_at.isoformat(),
            "counts": self.counts(),
            "data": self.data,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(candidate=data["candidate"], baseline=data.get("baseline"),
                   results=tuple(CheckResult.from_dict(r) for r in data["results"]),
                   created_at=as_utc(datetime.fromisoformat(data["created_at"])),
                   data=data.get("data", {}))
