"""A small 5-field cron matcher (minute hour day-of-month month day-of-week, UTC).

Supports ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` / ``a-b/n``;
day-of-week 0-7 (0 and 7 are Sunday). As in cron, when both day fields are
restricted a day matches either.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


def _parse(part: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        body, _, step_s = item.partition("/")
        try:
            step = int(step_s) if step_s else 1
            if body == "*":
                start, end = low, high
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(body)
        except ValueError:
            raise ValueError(f"bad cron {name} field {part!r}") from None
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"cron {name} field {part!r} must lie within {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


class Cron:
    """A parsed cron expression; :meth:`latest` finds the last match at or before a time.

    Raises:
        ValueError: the expression does not have 5 valid fields.
    """

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(f"a cron expression has 5 fields, got {len(parts)}: {expression!r}")
        self.expression = expression
        sets = [_parse(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        self.minutes, self.hours, self.days, self.months, dow = sets
        self.weekdays = frozenset(d % 7 for d in dow)  # cron: 0 = Sunday
        self._any_day, self._any_weekday = parts[2] == "*", parts[4] == "*"

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self._any_day or self._any_weekday:
            return in_month and in_week
        return in_month or in_week

    def latest(self, at: datetime, *, horizon_days: int = 400) -> datetime | None:
        """The latest matching minute at or before ``at`` (None within the horizon)."""
        top = at.replace(second=0, microsecond=0)
        day = top.replace(hour=0, minute=0)
        for _ in range(horizon_days + 1):
            if self._day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        when = day.replace(hour=hour, minute=minute)
                        if when <= top:
                            return when
            day -= timedelta(days=1)
        return None
