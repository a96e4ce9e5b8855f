"""The ``Check`` seam: one gate a candidate version must pass, with its evidence.

A check is a small object built from explicit keyword parameters (stored
unchanged, scikit-learn style). ``run(ctx)`` looks at the candidate through the
shared :class:`CheckContext` and returns a :class:`CheckResult`: a verdict, a
severity, a one-line summary and the **evidence** (statistics, thresholds,
examples) that justifies the verdict. Evidence must be JSON-serialisable and
free of NaN/Inf: :meth:`Check.run` passes it through
:func:`~mlpilot.core.jsonsafe.json_safe` once more, so numpy values are fine.

Rules for implementers:
- never raise for a failing model: return ``Verdict.FAIL`` with evidence; raise
  only for a broken configuration (``InvalidArgument``) — the runner turns any
  other exception into ``Verdict.ERROR`` so one broken check never hides others;
- return ``Verdict.SKIP`` with the reason when the inputs a check needs are
  missing (no holdout, no baseline, no sensitive features configured);
- be deterministic: seed every random draw from ``ctx.seed``.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class Severity(StrEnum):
    BLOCKING = "blocking"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    check: str
    verdict: Verdict
    severity: Severity
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def blocks(self) -> bool:
        """True if this result stops the candidate (a blocking fail or error)."""
        return self.severity is Severity.BLOCKING and self.verdict in (Verdict.FAIL,
                                                                         Verdict.ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "verdict": self.verdict.value,
                "severity": self.severity.value, "summary": self.summary,
                "evidence": self.evidence, "duration_s": round(self.duration_s, 4)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(check=data["check"], verdict=Verdict(data["verdict"]),
                   severity=Severity(data["severity"]), summary=data["summary"],
                   evidence=data.get("evidence", {}), duration_s=data.get("duration_s", 0.0))


class Check(abc.ABC):
    """Base class of every check. Subclasses set ``name`` and implement ``_run``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_severity: ClassVar[Severity] = Severity.BLOCKING

    def __init__(self, *, severity: Severity | str | None = None) -> None:
        try:
            self.severity = Severity(severity) if severity is not None else self.default_severity
        except ValueError:
            raise InvalidArgument(
                f"The severity of check {self.name!r} must be 'blocking' or 'advisory'. "
                f"Got {severity!r}."
            ) from None

    def run(self, ctx: Any) -> CheckResult:
        """Run the check on ``ctx`` (a :class:`~mlpilot.checks.CheckContext`), timing it."""
        start = time.perf_counter()
        result = self._run(ctx)
        return CheckResult(check=self.name, verdict=result.verdict, severity=self.severity,
                           summary=result.summary, evidence=json_safe(result.evidence),
                           duration_s=time.perf_counter() - start)

    @abc.abstractmethod
    def _run(self, ctx: Any) -> CheckResult:
        """Do the work; build the result with :meth:`result`."""

    def result(self, verdict: Verdict, summary: str, **evidence: Any) -> CheckResult:
        """A result for this check (severity and timing are filled in by :meth:`run`)."""
        return CheckResult(check=self.name, verdict=verdict, severity=self.severity,
                           summary=summary, evidence=evidence)

    def skip(self, reason: str) -> CheckResult:
        """A ``SKIP`` result saying why the check could not run."""
        return self.result(Verdict.SKIP, reason)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"
