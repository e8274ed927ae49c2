"""The region table: one :class:`Region` per provider region, read from ``data/regions.csv``.

The CSV is data, not code (its header comment gives its sources); this module only parses and
checks it. A malformed row is reported as a warning that names the file and line, and the rest
of the file still loads, so one bad edit never takes every region away.
"""

from __future__ import annotations

import csv
import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLUMNS",
    "PRICING_ZONES",
    "PROVIDERS",
    "REGIONS_CSV",
    "Region",
    "all_regions",
    "broad_region_names",
    "read_regions",
]

#: The CSV's columns, in order.
COLUMNS = ("provider", "region", "broad", "city", "country", "pricing_zone")

#: The clouds that own provider regions (``local`` has none).
PROVIDERS = ("aws", "gcp", "azure", "oci")

#: Modal's region pricing categories: US/EU/AP (the cheaper multiplier) and everything else.
PRICING_ZONES = ("US", "EU", "AP", "other")

#: The table shipped with the package.
REGIONS_CSV = Path(__file__).parent / "data" / "regions.csv"

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Region:
    """One region of one provider, with the broad names it belongs to."""

    provider: str
    """``aws``, ``gcp``, ``azure`` or ``oci``."""
    name: str
    """The provider's own id: ``us-east-1``, ``us-central1``, ``eastus``, ``us-ashburn-1``."""
    city: str
    """Where it is, as Modal's region guide describes it."""
    country: str
    """ISO 3166-1 alpha-2 country code."""
    pricing_zone: str
    """``US``, ``EU``, ``AP`` or ``other`` (see :data:`PRICING_ZONES`)."""
    broad: tuple[str, ...]
    """Broad names that include this region, e.g. ``("us", "us-east")``; may be empty."""

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


class _RowError(ValueError):
    """A row of the CSV that cannot become a Region."""


def _parse_row(cells: list[str]) -> Region:
    if len(cells) != len(COLUMNS):
        raise _RowError(f"expected {len(COLUMNS)} columns, got {len(cells)}")
    provider, name, broad_cell, city, country, zone = (cell.strip() for cell in cells)
    if provider not in PROVIDERS:
        raise _RowError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    if not _NAME.match(name):
        raise _RowError(f"region {name!r} is not a lower-case provider region id")
    broad = tuple(part.strip() for part in broad_cell.split(";") if part.strip())
    for broad_name in broad:
        if not _NAME.match(broad_name):
            raise _RowError(f"broad name {broad_name!r} is not a lower-case name")
    if not city:
        raise _RowError("city is empty")
    if not _COUNTRY.match(country):
        raise _RowError(f"country {country!r} is not a two-letter ISO code")
    if zone not in PRICING_ZONES:
        raise _RowError(f"pricing_zone {zone!r} is not one of {', '.join(PRICING_ZONES)}")
    return Region(
        provider=provider,
        name=name,
        city=city,
        country=country,
        pricing_zone=zone,
        broad=broad,
    )


def read_regions(path: Path) -> list[Region]:
    """Read a region CSV, skipping ``#`` comments and blank lines.

    A malformed row (or a repeated provider and region) is reported with
    :func:`warnings.warn` as ``path:line: reason`` and left out; the other rows load. A
    missing or wrong header loads nothing and warns the same way.
    """
    regions: list[Region] = []
    seen: set[tuple[str, str]] = set()
    header_seen = False
    with path.open(encoding="utf-8", newline="") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = next(csv.reader([line]))
            if not header_seen:
                if tuple(cell.strip() for cell in cells) != COLUMNS:
                    _warn(path, line_number, f"header must be {','.join(COLUMNS)}")
                    return []
                header_seen = True
                continue
            try:
                region = _parse_row(cells)
            except _RowError as exc:
                _warn(path, line_number, str(exc))
                continue
            key = (region.provider, region.name)
            if key in seen:
                _warn(path, line_number, f"{region} is listed twice; the first row is kept")
                continue
            seen.add(key)
            regions.append(region)
    if not header_seen:
        _warn(path, 1, f"no header; expected {','.join(COLUMNS)}")
    return regions


def _warn(path: Path, line_number: int, reason: str) -> None:
    # stacklevel 4: the caller of all_regions()/read_regions(), not this helper.
    warnings.warn(f"{path}:{line_number}: {reason}", RuntimeWarning, stacklevel=4)


@functools.cache
def _table() -> tuple[Region, ...]:
    # Read on first use, not at import, so importing strato.regions costs nothing.
    return tuple(read_regions(REGIONS_CSV))


def all_regions() -> list[Region]:
    """Every region in the shipped table, in file order (read once, on first use)."""
    return list(_table())


def broad_region_names() -> list[str]:
    """Every broad name in the table (``us``, ``us-east``, ..., ``af``), in first-seen order."""
    names: dict[str, None] = {}
    for region in _table():
        for broad_name in region.broad:
            names.setdefault(broad_name)
    return list(names)
