"""The offline price catalog: every priced machine of every provider, with fast queries.

The packaged files ``pricing/data/<provider>.csv`` (format: :mod:`strato.pricing.offer`) are
list prices seeded from published sources, each row carrying its source and date, and are
refreshed by the fetchers in :mod:`strato.pricing.fetchers`. :func:`load_catalog` reads them,
reports every malformed row as a :class:`~strato.pricing.offer.CatalogWarning` (and in
:attr:`Catalog.problems`) naming file and line, and applies an operator's negotiated prices
(:mod:`strato.pricing.overrides`). :func:`default_catalog` is the cached catalog with the
operator's ``price-overrides.toml``, the one placement and cost reports use.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from strato.pricing.offer import (
    CatalogProblem,
    CatalogWarning,
    Offer,
    canonical_gpu_type,
    parse_offers,
    warn_problems,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "Catalog",
    "CatalogProblem",
    "CatalogWarning",
    "Offer",
    "default_catalog",
    "load_catalog",
    "packaged_files",
]

_K = TypeVar("_K")
_MAX_CACHED_QUERIES = 4096
_Filter = str | Collection[str] | None
_Query = tuple[
    frozenset[str] | None, frozenset[str] | None, frozenset[int] | None, frozenset[str] | None
]


def _as_set(value: str | Collection[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)


def _gpu_set(value: str | Collection[str] | None) -> frozenset[str] | None:
    names = _as_set(value)
    if names is None:
        return None
    # An unknown spelling matches nothing rather than raising: a query, not a request.
    return frozenset(canonical_gpu_type(name) or f"?{name}" for name in names)


class Catalog:
    """Offers of every provider, indexed once for cheap repeated queries.

    Queries return offers in catalog order (file by file, row by row); callers rank them.
    """

    def __init__(self, offers: Iterable[Offer], problems: Iterable[CatalogProblem] = ()) -> None:
        self._offers: tuple[Offer, ...] = tuple(offers)
        self.problems: list[CatalogProblem] = list(problems)
        """Every malformed row or override entry met while loading, in order."""
        self._by_provider: dict[str, list[int]] = {}
        self._by_gpu: dict[str | None, list[int]] = {}
        self._by_count: dict[int, list[int]] = {}
        self._by_region: dict[str, list[int]] = {}
        for index, offer in enumerate(self._offers):
            self._by_provider.setdefault(offer.provider, []).append(index)
            self._by_gpu.setdefault(offer.gpu_type, []).append(index)
            self._by_count.setdefault(offer.gpu_count, []).append(index)
            self._by_region.setdefault(offer.region, []).append(index)
        self._results: dict[_Query, tuple[Offer, ...]] = {}
        self._cheapest: dict[tuple[str, int, bool], Offer | None] = {}

    def __len__(self) -> int:
        return len(self._offers)

    def __iter__(self) -> Iterator[Offer]:
        return iter(self._offers)

    def __repr__(self) -> str:
        return f"<Catalog {len(self._offers)} offers, {len(self.problems)} problems>"

    def offers(
        self,
        provider: _Filter = None,
        gpu_type: _Filter = None,
        gpu_count: int | Collection[int] | None = None,
        region: _Filter = None,
    ) -> list[Offer]:
        """Offers matching every filter given; each filter is one value or a collection.

        ``gpu_type`` takes any spelling :mod:`strato.pricing.gpu` accepts (``A10G``,
        ``a100``); ``gpu_count=0`` selects CPU-only machines. Results are cached per query.
        """
        counts: frozenset[int] | None
        if gpu_count is None:
            counts = None
        elif isinstance(gpu_count, int):
            counts = frozenset((gpu_count,))
        else:
            counts = frozenset(gpu_count)
        query: _Query = (_as_set(provider), _gpu_set(gpu_type), counts, _as_set(region))
        cached = self._results.get(query)
        if cached is None:
            if len(self._results) >= _MAX_CACHED_QUERIES:
                self._results.clear()
            cached = self._results[query] = self._select(*query)
        return list(cached)

    def _select(
        self,
        providers: frozenset[str] | None,
        gpus: frozenset[str] | None,
        counts: frozenset[int] | None,
        regions: frozenset[str] | None,
    ) -> tuple[Offer, ...]:
        candidates: list[list[int]] = []
        if providers is not None:
            candidates.append(_rows(self._by_provider, providers))
        if gpus is not None:
            candidates.append(_rows(self._by_gpu, gpus))
        if counts is not None:
            candidates.append(_rows(self._by_count, counts))
        if regions is not None:
            candidates.append(_rows(self._by_region, regions))
        if not candidates:
            return self._offers
        smallest = min(candidates, key=len)
        return tuple(
            offer
            for offer in (self._offers[i] for i in smallest)
            if (providers is None or offer.provider in providers)
            and (gpus is None or offer.gpu_type in gpus)
            and (counts is None or offer.gpu_count in counts)
            and (regions is None or offer.region in regions)
        )

    def providers(self) -> list[str]:
        """Providers with at least one offer, sorted."""
        return sorted(self._by_provider)

    def gpu_types(self) -> list[str]:
        """GPU types with at least one offer, in the order of ``strato.pricing.gpu``."""
        present = [name for name in self._by_gpu if name is not None]
        order = _gpu_order()
        return sorted(present, key=lambda name: (order.get(name, len(order)), name))

    def regions(self, provider: str | None = None) -> list[str]:
        """Regions with at least one offer (of ``provider``), sorted."""
        if provider is None:
            return sorted(self._by_region)
        return sorted({offer.region for offer in self.offers(provider=provider)})

    def cheapest(self, gpu_type: str, count: int = 1, *, spot: bool = False) -> Offer | None:
        """The lowest-priced machine with exactly ``count`` GPUs of ``gpu_type``.

        With ``spot=True``, the lowest spot price among offers that have one. Ties go to
        provider, region, then instance type, alphabetically. None when nothing matches.
        """
        key = (gpu_type, count, spot)
        if key in self._cheapest:
            return self._cheapest[key]
        best: Offer | None = None
        best_key: tuple[float, str, str, str] | None = None
        for offer in self.offers(gpu_type=gpu_type, gpu_count=count):
            price = offer.price(spot)
            if price is None:
                continue
            candidate = (price, offer.provider, offer.region, offer.instance_type)
            if best_key is None or candidate < best_key:
                best, best_key = offer, candidate
        self._cheapest[key] = best
        return best


def _rows(index: Mapping[_K, list[int]], wanted: Iterable[_K]) -> list[int]:
    rows: list[int] = []
    for key in wanted:
        rows.extend(index.get(key, ()))
    return sorted(rows)


@lru_cache(maxsize=1)
def _gpu_order() -> dict[str, int]:
    try:
        from strato.pricing.gpu import GPU_TYPES
    except ImportError:
        return {}
    return {name: position for position, name in enumerate(GPU_TYPES)}


def packaged_files() -> list[Traversable]:
    """The catalog files shipped with Strato (``pricing/data/*.csv``), by name."""
    data = importlib.resources.files("strato.pricing").joinpath("data")
    return sorted(
        (entry for entry in data.iterdir() if entry.name.endswith(".csv")),
        key=lambda entry: entry.name,
    )


def _read_file(file: Path | Traversable) -> tuple[list[Offer], list[CatalogProblem]]:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [CatalogProblem(name, None, f"cannot read catalog file: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        return [], [CatalogProblem(name, None, f"not UTF-8 text: {exc.reason}")]
    parsed: tuple[list[Offer], list[CatalogProblem]] = parse_offers(
        text.splitlines(keepends=True), name
    )
    return parsed


def _identity(offer: Offer) -> tuple[object, ...]:
    return (
        offer.provider,
        offer.instance_type,
        offer.gpu_type,
        offer.gpu_count,
        offer.region,
        offer.zone,
    )


def load_catalog(paths: Iterable[Path] | None = None, *, overrides: Path | None = None) -> Catalog:
    """Read catalog files (default: the packaged ones) and apply an overrides file.

    Malformed rows and override entries are skipped, each issued as a
    :class:`CatalogWarning` naming file and line and kept in :attr:`Catalog.problems`.
    """
    from strato.pricing.overrides import apply_overrides, read_overrides

    files: Sequence[Path | Traversable] = packaged_files() if paths is None else list(paths)
    offers: list[Offer] = []
    problems: list[CatalogProblem] = []
    seen: dict[tuple[object, ...], str] = {}
    for file in files:
        file_offers, file_problems = _read_file(file)
        problems.extend(file_problems)
        for offer in file_offers:
            key = _identity(offer)
            if key in seen:
                message = f"{offer.instance_type} in {offer.region} is also in {seen[key]}"
                problems.append(CatalogProblem(str(file), None, message + "; kept that one"))
                continue
            seen[key] = str(file)
            offers.append(offer)
    if overrides is not None:
        rules, override_problems = read_overrides(overrides)
        problems.extend(override_problems)
        offers, unmatched = apply_overrides(offers, rules, str(overrides))
        problems.extend(unmatched)
    warn_problems(problems)
    return Catalog(offers, problems)


def _overrides_path() -> Path:
    from strato.config import config_dir
    from strato.pricing.overrides import DEFAULT_FILENAME

    return Path(config_dir(), DEFAULT_FILENAME)


@lru_cache(maxsize=4)
def _cached_catalog(overrides: str | None, _stamp: tuple[int, int] | None) -> Catalog:
    return load_catalog(overrides=None if overrides is None else Path(overrides))


def default_catalog() -> Catalog:
    """The packaged catalog with the operator's ``price-overrides.toml`` applied, if any.

    Cached; it is read again when the overrides file appears, changes or goes away.
    """
    path = _overrides_path()
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return _cached_catalog(None, None)
    return _cached_catalog(str(path), (stat.st_mtime_ns, stat.st_size))
