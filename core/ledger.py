"""The cost ledger: what each container was priced at when it started.

Every container row records its provider, region, GPU, reservation (cpu, memory), the price
per hour of what it runs on, and the multipliers in force at launch; the agent reports its
usage (CPU seconds, peak memory). Cost accrues per second from those.

Local containers cost nothing unless the operator sets local rates in ``config.toml``::

    [pricing.local]
    cpu_core_hour = 0.04     # $ per core-hour of max(cpu reservation, cpu used)
    memory_gib_hour = 0.005  # $ per GiB-hour of max(memory reservation, peak memory)
    gpu_hour = 0.0           # $ per GPU-hour, for the container's whole life
"""

from __future__ import annotations

from dataclasses import dataclass
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
