"""Schedules: ``strato.Cron`` and ``strato.Period``, validated when they are built."""

from __future__ import annotations

from typing import Any

from strato.exception import InvalidError

_CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class Schedule:
    """Base class of schedules."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class Cron(Schedule):
    """Run on a Unix cron expression (five fields), in ``timezone`` (default UTC)."""

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        if not isinstance(cron_string, str):
            raise InvalidError(f"Cron: cron_string must be a str, got {type(cron_string).__name__}")
        fields = cron_string.split()
        if len(fields) != 5:
            raise InvalidError(
                f"Cron: {cron_string!r} must have 5 fields ({', '.join(_CRON_FIELDS)}), "
                f"got {len(fields)}"
            )
        for value, name, (low, high) in zip(fields, _CRON_FIELDS, _CRON_RANGES, strict=True):
            _check_cron_field(value, name, low, high)
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except Exception as exc:
            raise InvalidError(f"Cron: unknown timezone {timezone!r}") from exc
        self.cron_string = cron_string
        self.timezone = timezone

    def to_dict(self) -> dict[str, Any]:
        return {"cron": self.cron_string, "timezone": self.timezone}

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"


def _check_cron_field(value: str, name: str, low: int, high: int) -> None:
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            raise InvalidError(f"Cron: bad step {step!r} in the {name} field")
        if base == "*":
            continue
        bounds = base.split("-")
        for bound in bounds:
            if not bound.isdigit() or not low <= int(bound) <= high:
                raise InvalidError(
                    f"Cron: {base!r} is not valid in the {name} field ({low}-{high})"
                )


class Period(Schedule):
    """Run every given interval; only ``seconds`` may be fractional."""

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
    ) -> None:
        parts = {
            "years": years,
            "months": months,
            "weeks": weeks,
            "days": days,
            "hours": hours,
            "minutes": minutes,
        }
        for name, value in parts.items():
            if not isinstance(value, int) or value < 0:
                raise InvalidError(f"Period: {name} must be a non-negative int, got {value!r}")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidError(f"Period: seconds must be a non-negative number, got {seconds!r}")
        if not any(parts.values()) and not seconds:
            raise InvalidError("Period: the interval must be longer than zero")
        self.parts = {**parts, "seconds": seconds}

    def to_dict(self) -> dict[str, Any]:
        return {"period": dict(self.parts)}

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v}" for k, v in self.parts.items() if v)
        return f"Period({given})"
