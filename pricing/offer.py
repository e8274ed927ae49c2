"""One priced machine (:class:`Offer`) and the CSV files that hold them.

Every catalog file (``pricing/data/<provider>.csv``, or one a fetcher writes) has these
fixed columns, in this order, with a header row; ``#`` lines are comments:

==========================  ============================================================
``provider``                ``aws``, ``gcp``, ``azure``, ``oci``, ... (lower case)
``instance_type``           the provider's name for the machine (``p5.48xlarge``)
``gpu_type``                a canonical GPU type (``H100``, ``A100-80GB``; see
                            :mod:`strato.pricing.gpu`), empty for a CPU-only machine
``gpu_count``               GPUs per machine (0 for CPU-only)
``vcpus``                   virtual CPUs
``memory_gib``              memory
``region``                  the region as the provider spells it (``us-east-1``)
``on_demand_usd_per_hour``  list price of the whole machine, USD per hour
``spot_usd_per_hour``       spot/preemptible price, empty when not offered or not known
``source``                  the URL or document the row came from
``as_of``                   ``YYYY-MM-DD`` the price was captured or published, or ``n.d.``
                            when the source is an undated snapshot
==========================  ============================================================

A row that breaks these rules is a :class:`CatalogProblem` naming file and line; reading
goes on with the next row.
"""

from __future__ import annotations

import csv
import datetime
import importlib
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "COLUMNS",
    "UNDATED",
    "CatalogProblem",
    "CatalogWarning",
    "Offer",
    "canonical_gpu_type",
    "parse_offers",
    "write_offers",
]

#: The fixed columns of a catalog file, in order.
COLUMNS: tuple[str, ...] = (
    "provider",
    "instance_type",
    "gpu_type",
    "gpu_count",
    "vcpus",
    "memory_gib",
    "region",
    "on_demand_usd_per_hour",
    "spot_usd_per_hour",
    "source",
    "as_of",
)

#: What ``as_of`` says when the source gives no date.
UNDATED = "n.d."


@dataclass(frozen=True, slots=True)
class Offer:
    """One machine type in one region (optionally one zone) at a price."""

    provider: str
    instance_type: str
    gpu_type: str | None
    """Canonical GPU type, None for a CPU-only machine."""
    gpu_count: int
    vcpus: int
    memory_gib: float
    region: str
    on_demand_usd_per_hour: float
    spot_usd_per_hour: float | None
    """None when the provider offers no spot/preemptible price (or none is known)."""
    source: str
    as_of: datetime.date | None
    """Date the price was captured or published; None when the source is undated."""
    zone: str | None = None
    """Availability zone, when the price is for one zone only."""

    def price(self, spot: bool = False) -> float | None:
        """USD per hour for the whole machine, on-demand or spot (None: no spot price)."""
        return self.spot_usd_per_hour if spot else self.on_demand_usd_per_hour

    def usd_per_gpu_hour(self, spot: bool = False) -> float | None:
        """The machine's price divided by its GPUs (None for CPU-only or no spot price)."""
        price = self.price(spot)
        if price is None or self.gpu_count == 0:
            return None
        return price / self.gpu_count


@dataclass(frozen=True, slots=True)
class CatalogProblem:
    """A malformed catalog row or override entry, and where it is."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class CatalogWarning(UserWarning):
    """Issued once per :class:`CatalogProblem` when a catalog or override file is read."""


def warn_problems(problems: Iterable[CatalogProblem]) -> None:
    """Issue a :class:`CatalogWarning` for each problem."""
    for problem in problems:
        warnings.warn(str(problem), CatalogWarning, stacklevel=3)


# Spellings the catalog accepts when strato.pricing.gpu is not importable.
_FALLBACK_GPU_NAMES = {
    "T4": "T4",
    "L4": "L4",
    "A10": "A10",
    "A10G": "A10",
    "A100": "A100-40GB",
    "A100-40GB": "A100-40GB",
    "A100-80GB": "A100-80GB",
    "L40S": "L40S",
    "H100": "H100",
    "H200": "H200",
    "B200": "B200",
}


def _gpu_namer() -> Callable[[str], str | None]:
    try:
        gpu: Any = importlib.import_module("strato.pricing.gpu")
    except ImportError:
        gpu = None
    canonical = getattr(gpu, "canonical_gpu_name", None)
    if canonical is None:
        return lambda name: _FALLBACK_GPU_NAMES.get(name.strip().upper())

    def name_of(name: str) -> str | None:
        try:
            result = canonical(name)
        except Exception:  # InvalidError for an unknown spelling
            return None
        return result if isinstance(result, str) and result != "any" else None

    return name_of


_canonical: Callable[[str], str | None] | None = None
_spellings: dict[str, str | None] = {}


def canonical_gpu_type(name: str) -> str | None:
    """The canonical GPU type for a spelling (``"a10g"`` -> ``"A10"``), None if unknown."""
    global _canonical
    if name not in _spellings:
        if _canonical is None:
            _canonical = _gpu_namer()
        _spellings[name] = _canonical(name)
    return _spellings[name]


class _RowError(ValueError):
    pass


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _RowError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise _RowError(f"{column} {text!r} must be a positive number")
    return value


def _whole(text: str, column: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise _RowError(f"{column} {text!r} is not a whole number")
    return int(text)


def _date(text: str) -> datetime.date | None:
    if text == UNDATED:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise _RowError(f"as_of {text!r} is not a YYYY-MM-DD date or {UNDATED!r}") from None


def _offer(cells: list[str]) -> Offer:
    if len(cells) != len(COLUMNS):
        raise _RowError(f"expected {len(COLUMNS)} columns, got {len(cells)}")
    (provider, instance_type, gpu_text, count_text, vcpus_text, memory_text, region) = (
        cell.strip() for cell in cells[:7]
    )
    on_demand_text, spot_text, source, as_of_text = (cell.strip() for cell in cells[7:])
    for column, value in (
        ("provider", provider),
        ("instance_type", instance_type),
        ("region", region),
        ("source", source),
    ):
        if not value:
            raise _RowError(f"{column} is empty")
    gpu_count = _whole(count_text, "gpu_count")
    gpu_type: str | None = None
    if gpu_text:
        gpu_type = canonical_gpu_type(gpu_text)
        if gpu_type is None:
            raise _RowError(f"unknown gpu_type {gpu_text!r}")
        if gpu_count < 1:
            raise _RowError(f"gpu_count must be at least 1 for gpu_type {gpu_text!r}")
    elif gpu_count != 0:
        raise _RowError("gpu_count must be 0 when gpu_type is empty")
    return Offer(
        provider=provider.lower(),
        instance_type=instance_type,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        vcpus=_whole(vcpus_text, "vcpus"),
        memory_gib=_number(memory_text, "memory_gib"),
        region=region,
        on_demand_usd_per_hour=_number(on_demand_text, "on_demand_usd_per_hour"),
        spot_usd_per_hour=_number(spot_text, "spot_usd_per_hour") if spot_text else None,
        source=source,
        as_of=_date(as_of_text),
    )


def _offer_key(offer: Offer) -> tuple[object, ...]:
    return (
        offer.provider,
        offer.instance_type,
        offer.gpu_type,
        offer.gpu_count,
        offer.region,
        offer.zone,
    )


def parse_offers(lines: Iterable[str], name: str) -> tuple[list[Offer], list[CatalogProblem]]:
    """Read catalog rows from ``lines``; ``name`` is the file named in problems.

    A file whose header is not :data:`COLUMNS` yields no offers and one problem.
    """
    offers: list[Offer] = []
    problems: list[CatalogProblem] = []
    seen: dict[tuple[object, ...], int] = {}
    reader = csv.reader(_without_comments(lines))
    header_seen = False
    for cells in reader:
        line = reader.line_num
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if not header_seen:
            header_seen = True
            if tuple(cell.strip() for cell in cells) != COLUMNS:
                problems.append(CatalogProblem(name, line, f"header must be {','.join(COLUMNS)}"))
                return [], problems
            continue
        try:
            offer = _offer(cells)
        except _RowError as exc:
            problems.append(CatalogProblem(name, line, str(exc)))
            continue
        key = _offer_key(offer)
        if key in seen:
            problems.append(CatalogProblem(name, line, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = line
        offers.append(offer)
    if not header_seen:
        problems.append(CatalogProblem(name, None, "empty file: no header row"))
    return offers, problems


def _without_comments(lines: Iterable[str]) -> Iterator[str]:
    # Blank out comment lines rather than dropping them, so csv's line numbers stay true.
    for line in lines:
        yield "\n" if line.lstrip().startswith("#") else line


def _format_number(value: float) -> str:
    text = repr(round(value, 6))
    return text[:-2] if text.endswith(".0") else text


def write_offers(offers: Iterable[Offer], stream: IO[str]) -> int:
    """Write ``offers`` as a catalog file (header included); returns the rows written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for offer in offers:
        writer.writerow(
            [
                offer.provider,
                offer.instance_type,
                offer.gpu_type or "",
                offer.gpu_count,
                offer.vcpus,
                _format_number(offer.memory_gib),
                offer.region,
                _format_number(offer.on_demand_usd_per_hour),
                "" if offer.spot_usd_per_hour is None else _format_number(offer.spot_usd_per_hour),
                offer.source,
                UNDATED if offer.as_of is None else offer.as_of.isoformat(),
            ]
        )
        count += 1
    return count
