"""``rank_offers`` over the whole price catalog, against a brute-force scan measured in this run.

The baseline is what placement would be without its per-catalog index: for every ranking, walk
every offer of every provider, filter it, look up the requested type's price for an upgrade by
walking the catalog again, and sort. Both produce the same order (checked before timing).

Goals: at most 2 ms per ranking (median and p90 of every spec), and 10,000 placements (the
specs in turn) in under 5 s.

    python benchmarks/bench_placement.py
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable

from strato.core.placement import PlacementSpec, rank_offers
from strato.pricing.catalog import Catalog, load_catalog
from strato.pricing.gpu import ANY, GPURequest, parse_gpu
from strato.pricing.multipliers import Multipliers
from strato.pricing.offer import Offer
from strato.regions import pricing_zones, resolve_regions

SAMPLES = 1000
PLACEMENTS = 10_000
GOAL_PER_RANKING_S = 0.002
GOAL_PLACEMENTS_S = 5.0


def _spec(
    gpu: str | list[str] | None = None, region: str | None = None, **kw: object
) -> PlacementSpec:
    cloud = kw.get("cloud")
    regions = None if region is None else tuple(resolve_regions(region, cloud))  # type: ignore[arg-type]
    return PlacementSpec(gpu=tuple(parse_gpu(gpu)), regions=regions, **kw)  # type: ignore[arg-type]


SPECS: list[tuple[str, PlacementSpec]] = [
    ("H100:8 anywhere", _spec("H100:8")),
    ("H100:8 > A100-80GB:8, eu", _spec(["H100:8", "A100-80GB:8"], "eu")),
    ("T4, 8 cpu, 32 GiB, aws", _spec("T4", cpu=8, memory_mib=32768, cloud="aws")),
    ("L4 spot, us", _spec("L4", "us", spot=True)),
    ("CPU-only, 4 cpu, nonpreemptible", _spec(cpu=4, nonpreemptible=True)),
    ("any GPU anywhere (worst case)", _spec("any")),
]


def brute_force(spec: PlacementSpec, catalog: Catalog, multipliers: Multipliers) -> list[Offer]:
    """The same ranking with no index: a scan over every offer, every time."""
    offers = list(catalog)
    zones = None if spec.regions is None else pricing_zones(spec.regions)
    multiplier = multipliers.total(zones, spec.nonpreemptible)
    places = None if spec.regions is None else {(r.provider, r.name) for r in spec.regions}
    requests: list[GPURequest | None] = list(spec.gpu) or [None]
    chosen: dict[int, tuple[object, ...]] = {}
    for position, request in enumerate(requests):
        types: tuple[str | None, ...] = (None,) if request is None else request.acceptable_types()
        count = 0 if request is None else request.count
        for number, offer in enumerate(offers):
            if number in chosen or offer.gpu_type not in types or offer.gpu_count != count:
                continue
            if spec.cloud is not None and offer.provider != spec.cloud:
                continue
            if places is not None and (offer.provider, offer.region) not in places:
                continue
            if spec.cpu is not None and offer.vcpus < spec.cpu:
                continue
            if spec.memory_mib is not None and offer.memory_gib * 1024 < spec.memory_mib:
                continue
            price = offer.price(spec.spot)
            if price is None:
                continue
            base = price
            assert request is not None or offer.gpu_type is None
            if request is not None and request.type not in (ANY, offer.gpu_type):
                same = [
                    other.price(spec.spot)
                    for other in offers
                    if other.provider == offer.provider
                    and other.region == offer.region
                    and other.gpu_type == request.type
                    and other.gpu_count == count
                    and other.price(spec.spot) is not None
                ]
                if same:
                    base = min(base, min(p for p in same if p is not None))
            rank = types.index(offer.gpu_type)
            key = (position, round(base * multiplier, 6), 0.0, price, rank)
            chosen[number] = (
                *key,
                offer.provider,
                offer.region,
                offer.instance_type,
                number,
            )
    return [offers[number] for number, _ in sorted(chosen.items(), key=lambda item: item[1])]


def _samples(run: Callable[[], object], count: int) -> list[float]:
    for _ in range(20):
        run()
    gc.collect()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return samples


def _p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def main() -> int:
    catalog = load_catalog()
    multipliers = Multipliers()
    started = time.perf_counter()
    rank_offers(SPECS[0][1], catalog, multipliers=multipliers)  # builds the index
    first_call = time.perf_counter() - started

    for name, spec in SPECS:
        ours = [r.offer for r in rank_offers(spec, catalog, multipliers=multipliers)]
        if ours != brute_force(spec, catalog, multipliers):
            print(f"rank_offers and the brute-force baseline disagree on {name!r}")
            return 1

    header = ("spec", "offers", "p50 ms", "p90 ms", "base p50", "base p90", "speed-up")
    rows: list[tuple[str, ...]] = [header]
    worst = 0.0
    for name, spec in SPECS:
        n = len(rank_offers(spec, catalog, multipliers=multipliers))
        ours = _samples(lambda s=spec: rank_offers(s, catalog, multipliers=multipliers), SAMPLES)
        base = _samples(lambda s=spec: brute_force(s, catalog, multipliers), SAMPLES // 4)
        worst = max(worst, _p90(ours))
        rows.append(
            (
                name,
                str(n),
                _ms(statistics.median(ours)),
                _ms(_p90(ours)),
                _ms(statistics.median(base)),
                _ms(_p90(base)),
                f"{statistics.median(base) / statistics.median(ours):.1f}x",
            )
        )

    def placements(rank: Callable[[PlacementSpec], object]) -> float:
        gc.collect()
        started = time.perf_counter()
        for number in range(PLACEMENTS):
            rank(SPECS[number % len(SPECS)][1])
        return time.perf_counter() - started

    total = placements(lambda s: rank_offers(s, catalog, multipliers=multipliers))
    total_base = placements(lambda s: brute_force(s, catalog, multipliers))
    defaults = placements(lambda s: rank_offers(s))  # default catalog, operator multipliers

    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(
        f"rank_offers over {len(catalog)} offers ({len(catalog.providers())} providers); "
        f"first call with index build {_ms(first_call)} ms"
    )
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(
        f"\n{PLACEMENTS:,} placements: {total:.3f} s "
        f"(brute force {total_base:.3f} s, {total_base / total:.1f}x; "
        f"with default catalog and multipliers {defaults:.3f} s)"
    )
    print(
        f"goals: p90 <= 2 ms per ranking: {'met' if worst <= GOAL_PER_RANKING_S else 'NOT met'} "
        f"(worst p90 {_ms(worst)} ms); {PLACEMENTS:,} placements < 5 s: "
        f"{'met' if total < GOAL_PLACEMENTS_S else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
