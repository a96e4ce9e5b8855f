"""The ``Detector`` seam: fit on a reference, score a window, return the evidence.

Every detector, whatever it measures, answers with a :class:`DetectorResult`:
its statistic, the threshold it was compared with, a p-value where the test has
one, an effect size (so that huge windows do not turn negligible shifts into
alerts), and the verdict. Streaming detectors watch one metric series instead
and say when it changed (:class:`StreamingDetector`, :class:`ChangePoint`).

A new detector subclasses one of the two bases and registers itself with
:func:`register`; the drift report and the monitor find it by name.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe

__all__ = ["ChangePoint", "Detector", "DetectorResult", "StreamingDetector", "DETECTORS",
           "register", "get_detector"]

KINDS = ("numeric", "categorical", "multivariate", "series")


@dataclass(frozen=True)
class DetectorResult:
    """One detector's answer on one window.

    Attributes:
        detector: the detector's registered name (``"ks"``, ``"psi"``, ...).
        feature: the column it looked at; ``None`` for multivariate detectors.
        statistic: the test statistic (KS D, PSI, AUC, ...).
        threshold: the value the decision compared against (a statistic bound, or
            the significance level when the verdict comes from ``p_value``).
        drifted: the verdict.
        p_value: the test's p-value, where the test has one (before any
            multiple-testing correction; the report stores the adjusted one).
        effect_size: a scale-free size of the shift (e.g. normalised Wasserstein,
            Jensen–Shannon distance); ``None`` when the detector has none.
        details: anything a plot or a diagnosis needs (CDF curves, new and
            vanished categories, bin shares), JSON-able.
    """

    detector: str
    feature: str | None
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    effect_size: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (NaN and infinities become ``None``)."""
        return json_safe({
            "detector": self.detector, "feature": self.feature,
            "statistic": self.statistic, "threshold": self.threshold,
            "drifted": self.drifted, "p_value": self.p_value,
            "effect_size": self.effect_size, "details": dict(self.details),
        })


class Detector(abc.ABC):
    """Compares a window with a reference fitted once.

    ``kind`` says what it takes: ``"numeric"`` and ``"categorical"`` detectors take
    one column (a :class:`pandas.Series`, or for the reference also a stored
    column profile), ``"multivariate"`` ones take a frame.

    Implementations keep what :meth:`fit` learned and nothing per window, so one
    fitted detector scores many windows, from several threads.
    """

    name: ClassVar[str]
    kind: ClassVar[str]

    @abc.abstractmethod
    def fit(self, reference: Any) -> Self:
        """Learn the reference; returns ``self``.

        Raises:
            InvalidArgument: the reference is empty or of the wrong kind.
        """

    @abc.abstractmethod
    def score(self, current: Any) -> DetectorResult:
        """Compare one window with the fitted reference.

        Raises:
            InvalidArgument: called before :meth:`fit`, or the window is of the wrong kind.
        """


@dataclass(frozen=True)
class ChangePoint:
    """A change a streaming detector found in a metric series.

    Attributes:
        index: the position (0-based count of updates) at which it was detected.
        statistic: the detector's statistic at that point.
        threshold: the bound it crossed.
        direction: ``"up"`` or ``"down"`` (the series' mean moved that way).
        details: detector-specific evidence (estimated change start, means before/after).
    """

    index: int
    statistic: float
    threshold: float
    direction: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"index": self.index, "statistic": self.statistic,
                          "threshold": self.threshold, "direction": self.direction,
                          "details": dict(self.details)})


class StreamingDetector(abc.ABC):
    """Watches one metric series value by value (accuracy per window, p99 latency, ...)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "series"

    @abc.abstractmethod
    def update(self, value: float) -> ChangePoint | None:
        """Feed the next value; a :class:`ChangePoint` when a change is detected.

        After a detection the detector restarts on the values that follow.

        Raises:
            InvalidArgument: ``value`` is not a finite number.
        """

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything seen so far."""


def finite(value: float, what: str = "value") -> float:
    """``value`` as a float, refusing NaN, infinities and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            raise InvalidArgument(f"The {what} must be a finite number. Got {value!r}.") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"The {what} must be a finite number. Got {value!r}.")
    return float(value)


#: registered name -> detector class
DETECTORS: dict[str, type[Detector] | type[StreamingDetector]] = {}

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make a detector findable by its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' to be registered.")
    if getattr(cls, "kind", None) not in KINDS:
        raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}.")
    if name in DETECTORS and DETECTORS[name] is not cls:
        raise TypeError(f"A detector named {name!r} is already registered.")
    DETECTORS[name] = cls
    return cls


def get_detector(name: str, **params: Any) -> Detector | StreamingDetector:
    """A new detector by registered name.

    Raises:
        InvalidArgument: no detector of that name (the message lists them).
    """
    cls: Callable[..., Detector | StreamingDetector] | None = DETECTORS.get(name)
    if cls is None:
        raise InvalidArgument(f"No detector named {name!r}. Available: {sorted(DETECTORS)}.")
    return cls(**params)
