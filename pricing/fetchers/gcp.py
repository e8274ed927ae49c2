"""Refresh ``pricing/data/gcp.csv`` from the Cloud Billing Catalog API.

``GET https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus`` (Compute Engine;
an API key, ``--api-key`` or ``GOOGLE_API_KEY``, is required) answers pages of ``skus`` linked
by ``nextPageToken``. Each SKU has a ``description`` ("A2 Instance Core running in Americas",
"Nvidia Tesla A100 80GB GPU running in Americas"), a ``category.usageType`` (``OnDemand`` or
``Preemptible``, i.e. spot), the ``serviceRegions`` it prices and
``pricingInfo[].pricingExpression.tieredRates[].unitPrice`` (``units`` + ``nanos``/1e9 USD).

Compute Engine bills a machine by parts, so a machine's hourly price here is
``vCPUs x core SKU + memory GiB x RAM SKU + GPUs x GPU SKU`` of its family (:data:`MACHINES`),
for on-demand and for spot. Local SSD bundled with some A3 shapes is not included. Where
several SKUs price a part in a region, the one naming the fewest regions wins. A machine is
written for a region only when every part has a price there; GCP offers each GPU type in a
subset of regions, which the GPU SKU's ``serviceRegions`` reflect.

Run: ``python -m strato.pricing.fetchers.gcp --out pricing/data/gcp.csv --api-key KEY``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from strato.pricing.fetchers.common import get_json, run_fetcher
from strato.pricing.offer import Offer

__all__ = ["DEFAULT_REGIONS", "GPU_MODELS", "MACHINES", "Machine", "fetch", "main", "parse"]

API_URL = "https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus"


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine type: the SKU family of its cores and RAM, and its parts."""

    family: str
    """Family in the core/RAM SKU descriptions: ``A2``, ``A3``, ``G2``, ``N1``."""
    vcpus: int
    memory_gib: float
    gpu: str | None = None
    """Key of :data:`GPU_MODELS`' values, None for CPU-only."""
    gpu_count: int = 0


#: The model named in a GPU SKU's description -> (part key, canonical GPU type).
GPU_MODELS: dict[str, tuple[str, str]] = {
    "Tesla T4": ("t4", "T4"),
    "L4": ("l4", "L4"),
    "Tesla A100": ("a100-40", "A100-40GB"),
    "A100": ("a100-40", "A100-40GB"),
    "Tesla A100 80GB": ("a100-80", "A100-80GB"),
    "A100 80GB": ("a100-80", "A100-80GB"),
    "H100 80GB": ("h100", "H100"),
    "H100": ("h100", "H100"),
    "H100 80GB Mega": ("h100-mega", "H100"),
    "H100 80GB Plus": ("h100-mega", "H100"),
    "H200 141GB": ("h200", "H200"),
}
_CANONICAL = dict(GPU_MODELS.values())


def _g2(vcpus: int, gpus: int) -> Machine:
    return Machine("G2", vcpus, vcpus * 4, "l4", gpus)


#: Machine types priced, with their parts (Google's machine-type tables).
MACHINES: dict[str, Machine] = {
    "a3-ultragpu-8g": Machine("A3", 224, 2952, "h200", 8),
    "a3-megagpu-8g": Machine("A3", 208, 1872, "h100-mega", 8),
    "a3-highgpu-8g": Machine("A3", 208, 1872, "h100", 8),
    "a3-highgpu-4g": Machine("A3", 104, 936, "h100", 4),
    "a3-highgpu-2g": Machine("A3", 52, 468, "h100", 2),
    "a3-highgpu-1g": Machine("A3", 26, 234, "h100", 1),
    **{f"a2-ultragpu-{n}g": Machine("A2", 12 * n, 170 * n, "a100-80", n) for n in (1, 2, 4, 8)},
    **{f"a2-highgpu-{n}g": Machine("A2", 12 * n, 85 * n, "a100-40", n) for n in (1, 2, 4, 8)},
    "g2-standard-4": _g2(4, 1),
    "g2-standard-8": _g2(8, 1),
    "g2-standard-12": _g2(12, 1),
    "g2-standard-16": _g2(16, 1),
    "g2-standard-24": _g2(24, 2),
    "g2-standard-32": _g2(32, 1),
    "g2-standard-48": _g2(48, 4),
    "g2-standard-96": _g2(96, 8),
    "n1-standard-4": Machine("N1", 4, 15),
    "n1-standard-8": Machine("N1", 8, 30),
    "n1-standard-16": Machine("N1", 16, 60),
}

#: N1 machines with T4s attached: (host, GPUs per VM).
N1_T4 = (
    ("n1-standard-4", 1),
    ("n1-standard-8", 1),
    ("n1-standard-8", 2),
    ("n1-standard-16", 1),
    ("n1-standard-16", 2),
    ("n1-standard-16", 4),
)

#: Regions written unless ``--region`` says otherwise.
DEFAULT_REGIONS = (
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "europe-west1",
    "europe-west4",
    "asia-northeast1",
    "asia-southeast1",
)

_GPU_SKU = re.compile(
    r"^(?:Nvidia |NVIDIA )?(?P<model>.+?) GPU(?: attached to Spot Preemptible VMs)? running in "
)
_PART_SKU = re.compile(
    r"^(?:Spot Preemptible )?(?P<family>[A-Z][A-Z0-9]*)(?: Predefined)? Instance "
    r"(?P<part>Core|Ram) running in "
)
_USAGE = {"OnDemand": "on_demand", "Preemptible": "spot"}


def fetch(
    client: httpx.Client, api_key: str, regions: Sequence[str] = DEFAULT_REGIONS
) -> dict[str, Any]:
    """Every Compute Engine SKU, all pages merged, with the regions to write."""
    skus: list[Any] = []
    params = {"key": api_key, "currencyCode": "USD", "pageSize": "5000"}
    while True:
        page = get_json(client, API_URL, params)
        skus.extend(page.get("skus", []))
        token = page.get("nextPageToken")
        if not token:
            break
        params = {**params, "pageToken": token}
    return {"regions": list(regions), "skus": skus}


def _unit_price(sku: dict[str, Any]) -> float | None:
    for info in sku.get("pricingInfo", [])[:1]:
        rates = info.get("pricingExpression", {}).get("tieredRates", [])
        if not rates:
            return None
        price = rates[-1].get("unitPrice", {})
        value = float(price.get("units") or 0) + float(price.get("nanos") or 0) / 1e9
        return value if value > 0 else None
    return None


def _part_key(description: str) -> str | None:
    gpu = _GPU_SKU.match(description)
    if gpu is not None:
        model = GPU_MODELS.get(gpu.group("model"))
        return None if model is None else f"gpu:{model[0]}"
    part = _PART_SKU.match(description)
    if part is not None:
        return f"{part.group('part').lower()}:{part.group('family')}"
    return None


def _price_table(skus: list[Any]) -> dict[tuple[str, str, str], float]:
    """(part key, usage, region) -> price, the SKU naming the fewest regions winning."""
    best: dict[tuple[str, str, str], tuple[int, float]] = {}
    for sku in skus:
        usage = _USAGE.get(str(sku.get("category", {}).get("usageType")))
        key = _part_key(str(sku.get("description", "")))
        price = _unit_price(sku)
        if usage is None or key is None or price is None:
            continue
        regions = sku.get("serviceRegions", [])
        for region in regions:
            slot = (key, usage, str(region))
            if slot not in best or len(regions) < best[slot][0]:
                best[slot] = (len(regions), price)
    return {slot: price for slot, (_, price) in best.items()}


def _machine_price(
    table: dict[tuple[str, str, str], float], machine: Machine, gpus: int, usage: str, region: str
) -> float | None:
    parts = [
        (f"core:{machine.family}", machine.vcpus),
        (f"ram:{machine.family}", machine.memory_gib),
    ]
    if machine.gpu is not None:
        parts.append((f"gpu:{machine.gpu}", machine.gpu_count))
    elif gpus:
        parts.append(("gpu:t4", gpus))
    total = 0.0
    for key, quantity in parts:
        price = table.get((key, usage, region))
        if price is None:
            return None
        total += price * quantity
    return round(total, 6)


def parse(responses: dict[str, Any], as_of: datetime.date) -> list[Offer]:
    """Offers for :data:`MACHINES` and :data:`N1_T4` in the responses' regions."""
    table = _price_table(responses.get("skus", []))
    regions = responses.get("regions") or list(DEFAULT_REGIONS)
    source = (
        f"{API_URL} (Cloud Billing Catalog API, fetched {as_of.isoformat()}): "
        "vCPU + RAM + GPU SKUs of the machine family"
    )
    configurations: list[tuple[str, Machine, int]] = [
        (name, machine, machine.gpu_count) for name, machine in MACHINES.items()
    ]
    configurations += [(host, MACHINES[host], count) for host, count in N1_T4]
    offers = []
    for name, machine, gpus in configurations:
        gpu_key = machine.gpu or ("t4" if gpus else None)
        for region in regions:
            on_demand = _machine_price(table, machine, gpus, "on_demand", region)
            if on_demand is None:
                continue
            offers.append(
                Offer(
                    provider="gcp",
                    instance_type=name,
                    gpu_type=None if gpu_key is None else _CANONICAL[gpu_key],
                    gpu_count=gpus,
                    vcpus=machine.vcpus,
                    memory_gib=machine.memory_gib,
                    region=region,
                    on_demand_usd_per_hour=on_demand,
                    spot_usd_per_hour=_machine_price(table, machine, gpus, "spot", region),
                    source=source,
                    as_of=as_of,
                )
            )
    return offers


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key",
        default=os.environ.get("GOOGLE_API_KEY"),
        help="Google API key allowed to call the Cloud Billing API (default: $GOOGLE_API_KEY)",
    )
    parser.add_argument(
        "--region", action="append", help="region to write (repeatable; default: a US/EU/AP set)"
    )


def _fetch(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    if not args.api_key:
        raise SystemExit("gcp: the Cloud Billing Catalog API needs --api-key or GOOGLE_API_KEY")
    return fetch(client, args.api_key, args.region or DEFAULT_REGIONS)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strato.pricing.fetchers.gcp --out pricing/data/gcp.csv --api-key KEY``."""
    status: int = run_fetcher(
        argv, provider="gcp", fetch=_fetch, parse=parse, add_arguments=_arguments
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
