"""Placement: turn a function's resources into price-ranked offers from the catalog.

:class:`PlacementSpec` is what a function asks for (an ordered GPU fallback list, cpu, memory,
regions, cloud, spot or on-demand); :func:`rank_offers` returns every catalog offer that can
run it, best first, as :class:`RankedOffer`; :func:`explain` says why the first won. Trying
the offers in turn, and failing over, is the provisioner's job, not this module's.

Order, as DESIGN.md puts it: **GPU preference first** (every offer for ``gpu[0]`` before any
for ``gpu[1]``), **then price with multipliers**, **then the lower recent failure rate**.
Remaining ties go to the cheaper machine (an exact type before an upgrade billed at the same
price), then provider, region and instance type alphabetically, so the order is stable.

Decisions worth knowing:

* **Spot or on-demand.** Modal's functions are preemptible by default, but Modal's
  preemptions are rare; a spot VM on the user's own cloud is preempted often and large GPUs
  are seldom to be had on spot at all. So ``spot`` defaults to False: offers are priced and
  provisioned on-demand, and the function pays Modal's *preemptible* rate (1.0). Spot is
  opted into (``spot=True``, ``strato price --spot``); it prices offers at their spot price
  and leaves out offers that have none. ``nonpreemptible=True`` maps to ``spot=False`` (it
  can never be combined with spot) and to Modal's *non-preemptible* rate (3x by default);
  asking for both is an InvalidError.
* **Multipliers** (:class:`~strato.pricing.multipliers.Multipliers`) depend on the function,
  not the offer: the region rate comes from the pricing zones of the regions the function is
  pinned to (none -> 1.0; a list spanning zones pays the smaller rate), times the preemption
  rate. The catalog prices whole machines, so the rate scales the whole machine price, as in
  Modal's ``(GPU + CPU + memory) x 1.25`` example. Modal applies its non-preemptible rate to
  CPU and memory only; an operator who wants GPU machines spared sets
  ``pricing.multipliers.nonpreemptible`` accordingly.
* **Upgrades are billed at the requested type's price** (Modal's rule: an ``H100`` request
  that lands on an H200 pays for an H100). "The requested type's price" is the cheapest offer
  of the requested type with the same GPU count from the same provider in the same region,
  priced the same way (spot or on-demand): the machine the function would have had there.
  Where that provider and region have no such offer, or it costs more than the upgrade
  machine itself, the upgrade machine's own price is used, so an upgrade never costs more
  than either machine. ``H100!`` and ``A100-40GB`` never upgrade.
* **cpu and memory** are floors: an offer with fewer vCPUs than ``cpu`` or less memory than
  ``memory_mib`` is left out. A CPU-only spec (no GPU) is placed on CPU-only machines.

The catalog's offers are indexed once per catalog (by GPU type and count, plus the
requested-type prices), cached on the catalog object's identity, so a ranking reads only the
rows of the GPU shapes asked for: about 0.1 ms for a typical spec, and well under the 2 ms
budget even for ``gpu="any"`` over the whole catalog (``benchmarks/bench_placement.py``).
Pass ``catalog`` and ``multipliers`` in a hot loop: the defaults stat the config files.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strato.exception import InvalidError
from strato.pricing.catalog import Catalog, default_catalog
from strato.pricing.gpu import ANY, GPURequest, parse_gpu
from strato.pricing.multipliers import Multipliers
from strato.pricing.offer import Offer
from strato.regions import Region, pricing_zones, resolve_regions, validate_cloud

__all__ = ["PlacementSpec", "RankedOffer", "explain", "rank_offers"]

_MIB_PER_GIB = 1024


@dataclass(frozen=True)
class PlacementSpec:
    """What one container of a function needs, as placement reads it."""

    gpu: tuple[GPURequest, ...] = ()
    """Ordered fallback list, preference first; empty for a CPU-only function."""
    cpu: float | None = None
    """Fewest vCPUs the machine must have (None: any)."""
    memory_mib: int | None = None
    """Least memory the machine must have, in MiB (None: any)."""
    regions: tuple[Region, ...] | None = None
    """The provider regions the function is pinned to; None for anywhere."""
    cloud: str | None = None
    """The one provider allowed; None (or ``"auto"``, normalised to None) for any."""
    spot: bool = False
    """Price and run on spot machines; False (the default) for on-demand."""
    nonpreemptible: bool = False
    """Modal's ``nonpreemptible=True``: on-demand only, at the non-preemptible rate."""

    def __post_init__(self) -> None:
        # Accept lists where tuples are meant, so the spec stays hashable.
        object.__setattr__(self, "gpu", tuple(self.gpu))
        for request in self.gpu:
            if not isinstance(request, GPURequest):
                raise InvalidError(f"gpu must hold GPURequest objects, got {request!r}")
        if self.regions is not None:
            object.__setattr__(self, "regions", tuple(self.regions))
            if not self.regions:
                raise InvalidError("regions=() allows no region; pass None for any region")
        object.__setattr__(self, "cloud", validate_cloud(self.cloud))
        if self.cpu is not None and not self.cpu > 0:
            raise InvalidError(f"cpu must be more than 0, got {self.cpu!r}")
        if self.memory_mib is not None and not self.memory_mib > 0:
            raise InvalidError(f"memory_mib must be more than 0, got {self.memory_mib!r}")
        if self.spot and self.nonpreemptible:
            raise InvalidError(
                "spot=True and nonpreemptible=True contradict each other: spot machines can "
                "be preempted at any time; choose one"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PlacementSpec:
        """The spec of a function from its validated ``@app.function`` options dict.

        ``gpu`` is re-parsed with :func:`~strato.pricing.gpu.parse_gpu` and ``region`` (the
        names as given) with :func:`~strato.regions.resolve_regions` under ``cloud``;
        ``nonpreemptible=True`` gives an on-demand, non-preemptible spec. The options carry
        no spot switch, so a function is placed on-demand.
        """
        gpu = options.get("gpu")
        cloud = validate_cloud(options.get("cloud"))
        region = options.get("region")
        regions = None if region is None else tuple(resolve_regions(region, cloud))
        cpu = options.get("cpu")
        memory = options.get("memory")
        return cls(
            gpu=tuple(parse_gpu(gpu)) if gpu else (),
            cpu=None if cpu is None else float(cpu),
            memory_mib=None if memory is None else int(memory),
            regions=regions,
            cloud=cloud,
            spot=False,
            nonpreemptible=bool(options.get("nonpreemptible", False)),
        )

    def describe(self) -> str:
        """The spec in a few words, e.g. ``gpu=['H100:8'], cpu=8, cloud='aws', spot``."""
        parts = [f"gpu={[str(request) for request in self.gpu]}" if self.gpu else "no GPU"]
        if self.cpu is not None:
            parts.append(f"cpu={self.cpu:g}")
        if self.memory_mib is not None:
            parts.append(f"memory={self.memory_mib} MiB")
        if self.regions is not None:
            parts.append(f"regions={_region_summary(self.regions)}")
        if self.cloud is not None:
            parts.append(f"cloud={self.cloud!r}")
        if self.spot:
            parts.append("spot")
        if self.nonpreemptible:
            parts.append("nonpreemptible")
        return ", ".join(parts)


@dataclass(frozen=True)
class RankedOffer:
    """One candidate offer, with the price placement ranked it by and why."""

    offer: Offer
    gpu_request_index: int
    """Position in the spec's GPU fallback list of the request it satisfies (0 for CPU-only)."""
    requested_gpu_type: str | None
    """The type asked for (the offer's own type for ``any``; None for CPU-only): an upgrade
    is billed at this type's price."""
    base_usd_per_hour: float
    """The billed price before multipliers: the offer's price, or for an upgrade the
    requested type's price (see the module docstring)."""
    multiplier: float
    """Region rate times preemption rate."""
    usd_per_hour: float
    """``base_usd_per_hour * multiplier``: what the ranking compares."""
    failure_penalty: float
    """The offer's recent failure rate (0 when none is known); breaks price ties."""
    gpu_request: GPURequest | None = None
    """The request it satisfies (None for CPU-only)."""
    spot: bool = False
    """Whether the offer is priced and run as spot."""
    requested_usd_per_hour: float | None = None
    """For an upgrade, what the requested type's machine (same provider, region and GPU
    count, cheapest) costs; None when there is none there, or for no upgrade."""

    @property
    def reason(self) -> str:
        """Why it ranks where it does, in a few words.

        Derived from the fields on demand (ranking builds hundreds of these per call and
        most reasons are never read), e.g. ``GPU choice 1 (H100:8); $58.89/h x 1.25 =
        $73.62/h; H200 upgrade billed at the H100 price``.
        """
        request = self.gpu_request
        head = (
            "CPU-only"
            if request is None
            else f"GPU choice {self.gpu_request_index + 1} ({request})"
        )
        reason = (
            f"{head}; ${self.base_usd_per_hour:.2f}/h x {self.multiplier:g} = "
            f"${self.usd_per_hour:.2f}/h"
        )
        if self.is_upgrade:
            reason += "; " + _upgrade_note(self)
        if self.failure_penalty:
            reason += f"; recent failure rate {_percent(self.failure_penalty)}"
        return reason

    @property
    def machine_usd_per_hour(self) -> float:
        """What the machine itself costs per hour (on-demand or spot), before multipliers."""
        price = self.offer.price(self.spot)
        return self.base_usd_per_hour if price is None else price

    @property
    def is_upgrade(self) -> bool:
        """True when the offer's GPU is bigger than the type asked for (e.g. H100 -> H200)."""
        requested = self.requested_gpu_type
        return requested is not None and requested != self.offer.gpu_type


_OPERATOR_MULTIPLIERS: list[tuple[object, Multipliers]] = []


def _operator_multipliers() -> Multipliers:
    """The operator's rates, parsed again only when ``config.toml`` is read again."""
    from strato.config import load_settings

    settings = load_settings()  # cached: the same dict until the file is re-read
    if _OPERATOR_MULTIPLIERS and _OPERATOR_MULTIPLIERS[0][0] is settings:
        return _OPERATOR_MULTIPLIERS[0][1]
    multipliers = Multipliers.from_settings(settings)
    _OPERATOR_MULTIPLIERS[:] = [(settings, multipliers)]
    return multipliers


def _ranked_offer(**values: Any) -> RankedOffer:
    # A frozen dataclass's __init__ sets each field through object.__setattr__, four times
    # slower than filling __dict__ at once; ranking builds one per candidate (up to a few
    # hundred), so this keeps a whole-catalog ranking well inside its 2 ms budget. Every
    # field is passed, and RankedOffer has no __post_init__ to skip.
    ranked = object.__new__(RankedOffer)
    ranked.__dict__.update(values)
    return ranked


@dataclass(frozen=True, slots=True)
class _Row:
    """An offer with what ranking reads from it, computed once per catalog."""

    order: int
    offer: Offer
    location: tuple[str, str]
    vcpus: int
    memory_mib: float
    on_demand: float
    spot: float | None
    tiebreak: tuple[str, str, str, int]
    """The last sort keys: provider, region, instance type, catalog order."""


@dataclass
class _Index:
    """A catalog's offers grouped for ranking; built once per catalog."""

    by_shape: dict[tuple[str | None, int], list[_Row]] = field(default_factory=dict)
    """(GPU type or None, GPU count) -> rows in catalog order."""
    reference_price: dict[tuple[str, str, str, int, bool], float] = field(default_factory=dict)
    """(provider, region, GPU type, count, spot) -> the cheapest such machine's price."""


_INDEXES: weakref.WeakKeyDictionary[Catalog, _Index] = weakref.WeakKeyDictionary()


def _index(catalog: Catalog) -> _Index:
    index = _INDEXES.get(catalog)
    if index is not None:
        return index
    index = _Index()
    for order, offer in enumerate(catalog):
        row = _Row(
            order=order,
            offer=offer,
            location=(offer.provider, offer.region),
            vcpus=offer.vcpus,
            memory_mib=offer.memory_gib * _MIB_PER_GIB,
            on_demand=offer.on_demand_usd_per_hour,
            spot=offer.spot_usd_per_hour,
            tiebreak=(offer.provider, offer.region, offer.instance_type, order),
        )
        index.by_shape.setdefault((offer.gpu_type, offer.gpu_count), []).append(row)
        if offer.gpu_type is None:
            continue
        for spot, price in ((False, row.on_demand), (True, row.spot)):
            if price is None:
                continue
            key = (offer.provider, offer.region, offer.gpu_type, offer.gpu_count, spot)
            known = index.reference_price.get(key)
            if known is None or price < known:
                index.reference_price[key] = price
    _INDEXES[catalog] = index
    return index


def _region_summary(regions: Iterable[Region]) -> str:
    names = [str(region) for region in regions]
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:3])} and {len(names) - 3} more"


def _percent(rate: float) -> str:
    return f"{rate * 100:.0f}%" if rate >= 0.01 or rate == 0 else f"{rate * 100:.1f}%"


_Candidate = tuple[tuple[Any, ...], _Row, int, float, float, float]


def rank_offers(
    spec: PlacementSpec,
    catalog: Catalog | None = None,
    *,
    multipliers: Multipliers | None = None,
    failure_rate: Callable[[Offer], float] | None = None,
    providers: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[RankedOffer]:
    """Every catalog offer that can run ``spec``, best first (see the module docstring).

    ``catalog`` defaults to :func:`~strato.pricing.catalog.default_catalog` and
    ``multipliers`` to the operator's (:meth:`Multipliers.from_settings`). ``failure_rate``
    gives an offer's recent failure rate (0 to 1; the capacity memory), used to break price
    ties. ``providers`` keeps only those providers' offers (e.g. the ones with credentials).
    ``limit`` returns only the first ``limit``.

    Never returns an empty list: when no offer satisfies the spec, raises InvalidError naming
    what was asked and the nearest thing the catalog has.
    """
    if limit is not None and limit < 1:
        raise InvalidError(f"limit must be at least 1, got {limit}")
    if catalog is None:
        catalog = default_catalog()
    if multipliers is None:
        multipliers = _operator_multipliers()
    index = _index(catalog)
    allowed_providers = None if providers is None else frozenset(providers)
    if spec.cloud is not None:
        cloud_only = frozenset((spec.cloud,))
        allowed_providers = (
            cloud_only if allowed_providers is None else allowed_providers & cloud_only
        )
    allowed_locations: frozenset[tuple[str, str]] | None = None
    if spec.regions is not None:
        allowed_locations = frozenset((region.provider, region.name) for region in spec.regions)
    zones = None if spec.regions is None else pricing_zones(spec.regions)
    multiplier = multipliers.total(zones, spec.nonpreemptible)
    cpu = spec.cpu if spec.cpu is not None else 0.0
    memory = spec.memory_mib if spec.memory_mib is not None else 0
    spot = spec.spot

    requests: tuple[GPURequest | None, ...] = spec.gpu or (None,)
    seen: set[int] = set()
    candidates: list[_Candidate] = []
    for position, request in enumerate(requests):
        if request is None:
            shapes: list[tuple[str | None, int]] = [(None, 0)]
        else:
            shapes = [(name, request.count) for name in request.acceptable_types()]
        for type_rank, shape in enumerate(shapes):
            upgrade_of: str | None = None
            if request is not None and request.type not in (ANY, shape[0]):
                upgrade_of = request.type
            for row in index.by_shape.get(shape, ()):
                if row.order in seen:
                    continue
                if allowed_providers is not None and row.location[0] not in allowed_providers:
                    continue
                if allowed_locations is not None and row.location not in allowed_locations:
                    continue
                if row.vcpus < cpu or row.memory_mib < memory:
                    continue
                price = row.spot if spot else row.on_demand
                if price is None:
                    continue
                base = price
                if upgrade_of is not None:
                    requested_price = index.reference_price.get(
                        (row.location[0], row.location[1], upgrade_of, shape[1], spot)
                    )
                    if requested_price is not None and requested_price < base:
                        base = requested_price
                total = base * multiplier
                penalty = 0.0 if failure_rate is None else float(failure_rate(row.offer))
                key = (position, total, penalty, price, type_rank, row.tiebreak)
                seen.add(row.order)
                candidates.append((key, row, position, base, total, penalty))
    if not candidates:
        raise InvalidError(_no_offer_message(spec, index, allowed_providers, allowed_locations))
    candidates.sort(key=lambda candidate: candidate[0])
    if limit is not None:
        del candidates[limit:]
    ranked: list[RankedOffer] = []
    for _, row, position, base, total, penalty in candidates:
        offer = row.offer
        request = spec.gpu[position] if spec.gpu else None
        requested_type = offer.gpu_type
        reference: float | None = None
        if request is not None and request.type != ANY:
            requested_type = request.type
            if offer.gpu_type != requested_type:
                reference = index.reference_price.get(
                    (offer.provider, offer.region, requested_type, request.count, spot)
                )
        ranked.append(
            _ranked_offer(
                offer=offer,
                gpu_request_index=position,
                requested_gpu_type=requested_type,
                base_usd_per_hour=base,
                multiplier=multiplier,
                usd_per_hour=total,
                failure_penalty=penalty,
                gpu_request=request,
                spot=spot,
                requested_usd_per_hour=reference,
            )
        )
    return ranked


def _upgrade_note(ranked: RankedOffer) -> str:
    offer, requested = ranked.offer, ranked.requested_gpu_type
    if ranked.requested_usd_per_hour is None:
        return f"{offer.gpu_type} upgrade at its own price (no {requested} machine there)"
    if ranked.requested_usd_per_hour <= ranked.base_usd_per_hour:
        return f"{offer.gpu_type} upgrade billed at the {requested} price"
    return f"{offer.gpu_type} upgrade at its own price (below the {requested} price there)"


def _where(offer: RankedOffer) -> str:
    gpus = f"{offer.offer.gpu_count}x {offer.offer.gpu_type}" if offer.offer.gpu_type else "CPU"
    return f"{offer.offer.provider} {offer.offer.instance_type} ({gpus}) in {offer.offer.region}"


def explain(ranked: list[RankedOffer]) -> str:
    """Why the first offer of :func:`rank_offers`'s result won, in a sentence or three."""
    if not ranked:
        return "No offer was ranked."
    first = ranked[0]
    request = first.gpu_request
    lines: list[str] = []
    head = f"{_where(first)} won"
    if request is None:
        why = "the cheapest CPU-only machine that fits"
    elif first.gpu_request_index == 0:
        why = f"it is your first GPU choice ({request})"
    else:
        why = (
            f"no offer of your earlier GPU choices fits, so it falls back to choice "
            f"{first.gpu_request_index + 1} ({request})"
        )
    price = (
        f"${first.usd_per_hour:.2f}/h (${first.base_usd_per_hour:.2f}/h x "
        f"{first.multiplier:g} multiplier)"
    )
    if len(ranked) == 1:
        lines.append(f"{head}: {why}, at {price}; it is the only candidate.")
    else:
        lines.append(f"{head}: {why}, at {price}, the best of {len(ranked)} candidates.")
    if first.is_upgrade:
        note = _upgrade_note(first)
        if first.base_usd_per_hour < first.machine_usd_per_hour:
            note += f"; the machine lists at ${first.machine_usd_per_hour:.2f}/h"
        lines.append(f"It is an {note}.")
    if len(ranked) > 1:
        runner = ranked[1]
        if runner.gpu_request_index != first.gpu_request_index:
            lines.append(
                f"The runner-up, {_where(runner)}, is a later GPU choice "
                f"({runner.gpu_request}), at ${runner.usd_per_hour:.2f}/h."
            )
        elif runner.usd_per_hour > first.usd_per_hour:
            lines.append(
                f"The runner-up, {_where(runner)}, costs ${runner.usd_per_hour:.2f}/h "
                f"(+${runner.usd_per_hour - first.usd_per_hour:.2f}/h)."
            )
        elif runner.failure_penalty > first.failure_penalty:
            lines.append(
                f"It ties on price with {_where(runner)} and wins on its lower recent failure "
                f"rate ({_percent(first.failure_penalty)} vs {_percent(runner.failure_penalty)})."
            )
        elif runner.machine_usd_per_hour > first.machine_usd_per_hour:
            lines.append(
                f"It ties on the billed price with {_where(runner)} and wins as the cheaper "
                f"machine (${first.machine_usd_per_hour:.2f}/h vs "
                f"${runner.machine_usd_per_hour:.2f}/h)."
            )
        else:
            lines.append(
                f"It ties with {_where(runner)} on price and failure rate; the order among "
                "equals is by provider, region and instance type."
            )
    return " ".join(lines)


def _label(request: GPURequest | None) -> str:
    return "CPU-only" if request is None else str(request)


def _type_label(request: GPURequest | None) -> str:
    if request is None:
        return "CPU-only"
    return "GPU" if request.type == ANY else request.type


def _no_offer_message(
    spec: PlacementSpec,
    index: _Index,
    allowed_providers: frozenset[str] | None,
    allowed_locations: frozenset[tuple[str, str]] | None,
) -> str:
    """Why nothing fits, request by request, with the nearest thing the catalog has."""
    if spec.cloud == "local":
        return (
            "cloud='local' runs on this machine, which has no catalog offers; the local "
            "provider places it without ranking"
        )
    requests: tuple[GPURequest | None, ...] = spec.gpu or (None,)
    reasons = [
        _diagnose(spec, index, request, allowed_providers, allowed_locations)
        for request in requests
    ]
    if len(reasons) == 1:
        return f"{reasons[0]} (asked: {spec.describe()})"
    listed = "; ".join(
        f"{request}: {reason}" for request, reason in zip(requests, reasons, strict=True)
    )
    return f"no GPU choice can be placed: {listed} (asked: {spec.describe()})"


def _diagnose(
    spec: PlacementSpec,
    index: _Index,
    request: GPURequest | None,
    allowed_providers: frozenset[str] | None,
    allowed_locations: frozenset[tuple[str, str]] | None,
) -> str:
    label = _label(request)
    if request is None:
        rows = list(index.by_shape.get((None, 0), ()))
        if not rows:
            return "the catalog has no CPU-only machine"
    else:
        types = request.acceptable_types()
        rows = [row for name in types for row in index.by_shape.get((name, request.count), ())]
        if not rows:
            counts = sorted(
                {count for (name, count) in index.by_shape if name in types and count > 0}
            )
            if not counts:
                return f"the catalog has no {_type_label(request)} machine"
            listed = ", ".join(str(count) for count in counts)
            return (
                f"no offer has {label}; the catalog's {_type_label(request)} machines have "
                f"{listed} GPUs"
            )
    where = ""
    if allowed_providers is not None:
        kept = [row for row in rows if row.location[0] in allowed_providers]
        where = f" on {', '.join(sorted(allowed_providers)) or 'no provider'}"
        if not kept:
            have = sorted({row.location[0] for row in rows})
            return f"no {label} offer{where}; {label} is offered on {', '.join(have)}"
        rows = kept
    if allowed_locations is not None:
        kept = [row for row in rows if row.location in allowed_locations]
        where += f" in {_region_summary(spec.regions or ())}"
        if not kept:
            have = sorted({f"{row.location[0]}:{row.location[1]}" for row in rows})
            shown = ", ".join(have[:6]) + (f" and {len(have) - 6} more" if len(have) > 6 else "")
            return f"no {label} offer{where}; {label} is offered in {shown}"
        rows = kept
    if spec.spot:
        kept = [row for row in rows if row.spot is not None]
        if not kept:
            return (
                f"no {label} offer{where} has a spot price; {len(rows)} on-demand offers do "
                "(drop spot to use them)"
            )
        rows = kept
    if spec.cpu is not None:
        kept = [row for row in rows if row.vcpus >= spec.cpu]
        if not kept:
            largest = max(row.vcpus for row in rows)
            return (
                f"no {label} offer{where} has {spec.cpu:g} vCPUs; the largest {label} "
                f"machine{where} has {largest}"
            )
        rows = kept
    if spec.memory_mib is not None:
        largest_mib = max(row.memory_mib for row in rows)
        with_cpu = f" with {spec.cpu:g} vCPUs" if spec.cpu is not None else ""
        return (
            f"no {label} offer{where}{with_cpu} has {spec.memory_mib} MiB of memory; the "
            f"largest has {largest_mib:.0f} MiB ({largest_mib / _MIB_PER_GIB:g} GiB)"
        )
    return f"no {label} offer fits{where}"
