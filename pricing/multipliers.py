"""Modal's pricing multipliers, as configuration.

Modal charges more for a function pinned to regions and for one that must not be preempted
(`reference/modal-docs.md`, "Region selection"; https://modal.com/docs/guide/preemption).
Strato applies the same multipliers on top of the price of the offer a container runs on, so
a cost report or a chargeback reads like Modal's bill. The defaults are Modal's numbers:

===================  =======  ===============================================================
rate                 default  applies to
===================  =======  ===============================================================
``region_us_eu_ap``  1.25     a function with ``region=`` whose regions include one in the US,
                              EU or AP pricing zone
``region_other``     2.5      a function with ``region=`` whose regions are all outside them
                              (pricing zone ``other``)
``nonpreemptible``   3.0      ``nonpreemptible=True`` (on-demand machines)
``preemptible``      1.0      the default: preemptible, spot where the cloud has it
===================  =======  ===============================================================

A function with no region pays 1.0 for region. Modal's guide: "If you specify multiple
regions and they span the two categories above, we will apply the smaller of the two
multipliers" -- so a list of regions pays the smallest rate among its zones. Modal applies its
3x non-preemptible multiplier to CPU and memory only and does not offer ``nonpreemptible``
for GPU functions; which parts of a price a multiplier scales is the caller's choice.

The operator changes any rate in ``config.toml``::

    [pricing.multipliers]
    region_us_eu_ap = 1.0     # no surcharge for pinning to a major region
    region_other = 1.5
    nonpreemptible = 1.0      # on-demand is billed at cost
    preemptible = 1.0

A rate must be a number of at least 0; an unknown key or a bad value raises InvalidError
naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from strato.exception import InvalidError

__all__ = ["MAJOR_ZONES", "PRICING_ZONES", "Multipliers"]

#: The pricing zones of Modal's 1.25x tier.
MAJOR_ZONES = frozenset({"US", "EU", "AP"})
#: Every pricing zone a region may have (see :mod:`strato.regions`).
PRICING_ZONES = MAJOR_ZONES | {"other"}

_ZONE_SPELLINGS = {zone.upper(): zone for zone in PRICING_ZONES}


@dataclass(frozen=True)
class Multipliers:
    """The rates by which a price is multiplied; defaults are Modal's."""

    region_us_eu_ap: float = 1.25
    """A function pinned to regions that include one in the US, EU or AP pricing zone."""
    region_other: float = 2.5
    """A function pinned only to regions outside US/EU/AP."""
    nonpreemptible: float = 3.0
    """``nonpreemptible=True``: on-demand machines, never preempted."""
    preemptible: float = 1.0
    """The default: may be preempted (spot where the cloud has it)."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> Multipliers:
        """The rates in ``settings["pricing"]["multipliers"]`` over the defaults.

        ``settings`` is a parsed ``config.toml``; None reads the operator's
        (:func:`strato.config.load_settings`).
        """
        if settings is None:
            from strato.config import load_settings

            settings = load_settings()
        pricing = settings.get("pricing", {})
        if not isinstance(pricing, Mapping):
            raise InvalidError(f"config.toml: [pricing] must be a table, got {pricing!r}")
        table = pricing.get("multipliers", {})
        if not isinstance(table, Mapping):
            raise InvalidError(f"config.toml: [pricing.multipliers] must be a table, got {table!r}")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(names))
        if unknown:
            raise InvalidError(
                f"config.toml: unknown key pricing.multipliers.{unknown[0]}; "
                f"valid keys: {', '.join(names)}"
            )
        rates: dict[str, float] = {}
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidError(
                    f"config.toml: pricing.multipliers.{name} must be a number, got {value!r}"
                )
            if not math.isfinite(value) or value < 0:
                raise InvalidError(
                    f"config.toml: pricing.multipliers.{name} must be at least 0, got {value!r}"
                )
            rates[name] = float(value)
        return cls(**rates)

    def region_multiplier(self, pricing_zones: Iterable[str] | None) -> float:
        """The region rate for a function whose regions have these pricing zones.

        None or empty (no region) -> 1.0; otherwise the smallest rate among the zones, so
        a list spanning US/EU/AP and other regions pays the US/EU/AP rate. Zones are
        ``US``, ``EU``, ``AP`` or ``other`` (any case); another raises InvalidError.
        """
        zones = list(pricing_zones or ())
        if not zones:
            return 1.0
        rates = []
        for zone in zones:
            canonical = _ZONE_SPELLINGS.get(str(zone).upper())
            if canonical is None:
                valid = ", ".join(sorted(PRICING_ZONES))
                raise InvalidError(f"unknown pricing zone {zone!r}; valid zones: {valid}")
            rates.append(self.region_us_eu_ap if canonical in MAJOR_ZONES else self.region_other)
        return min(rates)

    def preemption_multiplier(self, nonpreemptible: bool) -> float:
        """The rate for a non-preemptible (on-demand) or a preemptible function."""
        return self.nonpreemptible if nonpreemptible else self.preemptible

    def total(
        self, pricing_zones: Iterable[str] | None = None, nonpreemptible: bool = False
    ) -> float:
        """Region rate times preemption rate."""
        return self.region_multiplier(pricing_zones) * self.preemption_multiplier(nonpreemptible)
