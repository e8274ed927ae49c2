"""The cost ledger: what each container was priced at when it started, and what it cost.

Every container row records its provider, region, GPU, reservation (cpu, memory), the price
per hour of what it runs on, and the multipliers in force at launch; the agent reports its
usage (CPU seconds, peak memory). Cost accrues per second from those.

Local containers cost nothing unless the operator sets local rates in ``config.toml``::

    [pricing.local]
    cpu_core_hour = 0.04     # $ per core-hour of max(cpu reservation, cpu used)
    memory_gib_hour = 0.005  # $ per GiB-hour of max(memory reservation, peak memory)
    gpu_hour = 0.0           # $ per GPU-hour, for the container's whole life

:func:`container_cost` prices one container row; :func:`aggregate`, :func:`summarize` and
:func:`daily_breakdown` total rows for ``strato cost report``; :func:`parse_since` reads its
``--since``.
"""

from __future__ import annotations

import calendar
import datetime
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from strato.exception import InvalidError

LOCAL_RATE_KEYS = ("cpu_core_hour", "memory_gib_hour", "gpu_hour")
#: What Modal reserves when a function asks for nothing (0.125 cores, 128 MiB).
DEFAULT_CPU = 0.125
DEFAULT_MEMORY_MIB = 128


@dataclass(frozen=True)
class LocalRates:
    """The operator's rates for local containers (all zero by default)."""

    cpu_core_hour: float = 0.0
    memory_gib_hour: float = 0.0
    gpu_hour: float = 0.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None = None) -> LocalRates:
        if settings is None:
            from strato.config import load_settings

            settings = load_settings()
        table = (settings.get("pricing") or {}).get("local") or {}
        for key, value in table.items():
            if key not in LOCAL_RATE_KEYS:
                raise InvalidError(
                    f"config.toml [pricing.local]: unknown rate {key!r}; "
                    f"valid: {', '.join(LOCAL_RATE_KEYS)}"
                )
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidError(f"config.toml [pricing.local].{key} must be a number >= 0")
        return cls(**{k: float(v) for k, v in table.items()})


@dataclass(frozen=True)
class LaunchPrice:
    """The price a container starts at: $/h before multipliers, the multiplier, and why."""

    usd_per_hour: float
    multiplier: float
    source: str


def launch_price(provider: str, options: dict[str, Any], gpu_count: int) -> LaunchPrice:
    """Price and multipliers in force for a container of a function with ``options``.

    The region multiplier applies only where the provider honours regions (the local machine
    has none); the non-preemptible one wherever ``nonpreemptible=True``.
    """
    from strato.pricing.multipliers import Multipliers

    multipliers = Multipliers.from_settings()
    zones = None
    if provider != "local" and options.get("regions_resolved"):
        from strato.regions import resolve_regions

        zones = {
            r.pricing_zone for r in resolve_regions(options.get("region"), options.get("cloud"))
        }
    multiplier = multipliers.total(zones, bool(options.get("nonpreemptible")))
    if provider == "local":
        rates = LocalRates.from_settings()
        cpu = float(options.get("cpu") or DEFAULT_CPU)
        memory_gib = float(options.get("memory") or DEFAULT_MEMORY_MIB) / 1024
        price = cpu * rates.cpu_core_hour + memory_gib * rates.memory_gib_hour
        price += gpu_count * rates.gpu_hour
        return LaunchPrice(price, multiplier, "local rates ([pricing.local] in config.toml)")
    return LaunchPrice(0.0, multiplier, f"{provider}: no offer priced")


# -- what containers cost ------------------------------------------------------------------

#: The dimensions a cost report can be grouped by.
AGGREGATE_BY = ("app", "function", "provider", "region", "gpu", "day")
#: The key of a container with no value for the chosen dimension (no GPU, no region).
NO_VALUE = "(none)"
_DAY_S = 86400
_SINCE_UNITS = {"m": 60, "h": 3600, "d": _DAY_S, "w": 7 * _DAY_S}


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


def _life(row: dict[str, Any], now: float) -> tuple[float, float]:
    """When a container started and stopped (``now`` while it runs); never negative."""
    start = float(row["started_at"])
    stopped = row.get("stopped_at")
    end = float(stopped) if stopped is not None else now
    return start, max(start, end)


def _usd_per_second(row: dict[str, Any], seconds: float, rates: LocalRates) -> float:
    """What a container accrues per second, averaged over its ``seconds`` of life.

    A local container pays the operator's rates on the max of its reservation and its usage
    (Modal's rule for CPU and memory) and for its GPUs whole; a cloud container pays for the
    machine it runs on, whole, whatever it used.
    """
    if seconds <= 0:
        return 0.0
    multiplier = _number(row.get("multiplier"), 1.0)
    if row.get("provider") != "local":
        return _number(row.get("usd_per_hour"), 0.0) * multiplier / 3600
    cpu_used = _number(row.get("cpu_seconds"), 0.0) / seconds
    cores = max(_number(row.get("cpu_request"), DEFAULT_CPU), cpu_used)
    memory_mib = max(
        _number(row.get("memory_request_mib"), DEFAULT_MEMORY_MIB),
        _number(row.get("peak_memory_mib"), 0.0),
    )
    per_hour = (
        cores * rates.cpu_core_hour
        + memory_mib / 1024 * rates.memory_gib_hour
        + _number(row.get("gpu_count"), 0.0) * rates.gpu_hour
    )
    return per_hour * multiplier / 3600


def container_cost(row: dict[str, Any], now: float, rates: LocalRates | None = None) -> float:
    """What a container (a ``containers`` row) has cost in USD, accrued per second until it
    stopped, or until ``now`` while it runs. ``rates`` default to the operator's."""
    if rates is None:
        rates = LocalRates.from_settings()
    start, end = _life(row, now)
    return _usd_per_second(row, end - start, rates) * (end - start)


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _day_slices(start: float, end: float) -> list[tuple[str, float, float]]:
    """``(UTC day, from, to)`` for each day ``[start, end]`` touches (one, for an instant)."""
    slices = []
    cursor = start
    while True:
        midnight = (math.floor(cursor / _DAY_S) + 1) * _DAY_S
        upto = min(end, midnight)
        slices.append((_day(cursor), cursor, upto))
        if upto >= end:
            return slices
        cursor = upto


def _key(row: dict[str, Any], by: str) -> str:
    if by == "app":
        return str(row.get("app_name") or row.get("app_id") or NO_VALUE)
    if by == "function":
        app_name = row.get("app_name") or row.get("app_id") or NO_VALUE
        return f"{app_name}/{row.get('function_name') or row.get('function_id') or NO_VALUE}"
    value = row.get(by)
    return str(value) if value else NO_VALUE


def _check_by(by: str) -> None:
    if by not in AGGREGATE_BY:
        choices = ", ".join(AGGREGATE_BY)
        raise InvalidError(f"cannot group costs by {by!r}; choose one of: {choices}")


@dataclass
class _Totals:
    cost_usd: float = 0.0
    container_seconds: float = 0.0
    gpu_seconds: float = 0.0
    container_ids: set[str] = field(default_factory=set)

    def add(self, row: dict[str, Any], cost: float, seconds: float) -> None:
        self.cost_usd += cost
        self.container_seconds += seconds
        self.gpu_seconds += _number(row.get("gpu_count"), 0.0) * seconds
        self.container_ids.add(str(row.get("id")))

    def as_row(self, key: str | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {} if key is None else {"key": key}
        row.update(
            cost_usd=self.cost_usd,
            container_seconds=self.container_seconds,
            containers=len(self.container_ids),
            gpu_seconds=self.gpu_seconds,
        )
        return row


def _pieces(
    rows: Iterable[dict[str, Any]], now: float, rates: LocalRates | None, since: float | None
) -> Iterator[tuple[dict[str, Any], str, float, float]]:
    """``(row, UTC day, cost, seconds)`` of every container for each day it ran after
    ``since``; a container that stopped before ``since`` yields nothing."""
    for row in rows:
        start, end = _life(row, now)
        if since is not None and end < since:
            continue
        if rates is None and row.get("provider") == "local":
            rates = LocalRates.from_settings()
        per_second = _usd_per_second(row, end - start, rates or LocalRates())
        for day, lo, hi in _day_slices(max(start, since or start), end):
            yield row, day, per_second * (hi - lo), hi - lo


def aggregate(
    rows: Iterable[dict[str, Any]],
    by: str,
    now: float,
    rates: LocalRates | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """Cost of ``rows`` (``containers`` rows) grouped ``by`` one of :data:`AGGREGATE_BY`.

    Each result has ``key``, ``cost_usd``, ``container_seconds``, ``containers`` and
    ``gpu_seconds``, the most expensive first; by ``day`` (UTC), a container's cost is split
    across the days it ran and the days come in order. With ``since``, only the part of each
    container's life after it counts. Raises InvalidError for an unknown ``by``.
    """
    _check_by(by)
    groups: dict[str, _Totals] = {}
    for row, day, cost, seconds in _pieces(rows, now, rates, since):
        key = day if by == "day" else _key(row, by)
        groups.setdefault(key, _Totals()).add(row, cost, seconds)
    result = [totals.as_row(key) for key, totals in groups.items()]
    if by == "day":
        return sorted(result, key=lambda r: r["key"])
    return sorted(result, key=lambda r: (-r["cost_usd"], r["key"]))


def summarize(
    rows: Iterable[dict[str, Any]],
    now: float,
    rates: LocalRates | None = None,
    since: float | None = None,
) -> dict[str, Any]:
    """The totals of :func:`aggregate` over all ``rows``: each container counted once."""
    totals = _Totals()
    for row, _day_key, cost, seconds in _pieces(rows, now, rates, since):
        totals.add(row, cost, seconds)
    return totals.as_row()


def daily_breakdown(
    rows: Iterable[dict[str, Any]],
    by: str,
    now: float,
    rates: LocalRates | None = None,
    since: float | None = None,
) -> tuple[list[str], dict[str, list[float]]]:
    """Spend per UTC day, stacked by ``by`` (by provider when ``by`` is ``day``).

    Returns the days, every one from the first with spend (or the day of ``since``) to the
    last (or today, with ``since``), and for each key its cost on each of those days; keys
    come the most expensive first.
    """
    _check_by(by)
    stack_by = "provider" if by == "day" else by
    per_key: dict[str, dict[str, float]] = {}
    for row, day, cost, _seconds in _pieces(rows, now, rates, since):
        costs = per_key.setdefault(_key(row, stack_by), {})
        costs[day] = costs.get(day, 0.0) + cost
    active = {day for costs in per_key.values() for day in costs}
    if since is not None:
        active |= {_day(since), _day(now)}
    if not active:
        return [], {}
    first = calendar.timegm(time.strptime(min(active), "%Y-%m-%d"))
    last = calendar.timegm(time.strptime(max(active), "%Y-%m-%d"))
    days = [_day(first + i * _DAY_S) for i in range(int((last - first) // _DAY_S) + 1)]
    ranked = sorted(per_key.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return days, {key: [costs.get(day, 0.0) for day in days] for key, costs in ranked}


def parse_since(text: str, now: float | None = None) -> float:
    """The epoch a report starts at: ``30m``, ``12h``, ``7d`` or ``2w`` before ``now``, or an
    ISO date or date-time (UTC unless it names a zone)."""
    value = text.strip()
    if now is None:
        now = time.time()
    unit = _SINCE_UNITS.get(value[-1:].lower())
    if unit is not None:
        try:
            amount = float(value[:-1])
        except ValueError:
            amount = -1.0
        if amount >= 0 and math.isfinite(amount):
            return now - amount * unit
    else:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
    raise InvalidError(
        f"cannot read since={text!r}: give a duration like 30m, 12h, 7d or 2w, "
        "or an ISO date like 2024-05-01 (UTC)"
    )
