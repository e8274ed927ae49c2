"""The region vocabulary: Modal's broad region names and the provider regions behind them.

``resolve_regions("us-east", cloud="aws")`` gives AWS's us-east-1 and us-east-2; each
:class:`Region` carries its provider, city, country, pricing zone and broad names. The table
itself is ``data/regions.csv``, read on first use.
"""

from __future__ import annotations

from .catalog import PRICING_ZONES, PROVIDERS, Region, all_regions, broad_region_names
from .resolver import CLOUDS, pricing_zones, resolve_regions, validate_cloud

__all__ = [
    "CLOUDS",
    "PRICING_ZONES",
    "PROVIDERS",
    "Region",
    "all_regions",
    "broad_region_names",
    "pricing_zones",
    "resolve_regions",
    "validate_cloud",
]
