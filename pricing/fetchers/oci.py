"""Refresh ``pricing/data/oci.csv`` from Oracle's public price list API (no credentials).

``GET https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD``
answers ``{"lastUpdated": ..., "items": [...]}``, one item per part number with
``displayName``, ``metricName`` and ``currencyCodeLocalizations[].prices[]`` (``model``
``PAY_AS_YOU_GO``, ``value``). GPU parts are priced per GPU-hour (``metricName``
"GPU Per Hour"), the same in every commercial region; a shape's price is the part's price
times the shape's GPUs, written for each region in :data:`REGIONS`.

The price list names parts, not shapes, so :data:`SHAPES` maps each shape to its part number,
GPUs, vCPUs (2 per OCPU) and memory.

Run: ``python -m strato.pricing.fetchers.oci --out pricing/data/oci.csv``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from strato.pricing.fetchers.common import MachineSpec, get_json, run_fetcher
from strato.pricing.offer import Offer

__all__ = ["REGIONS", "SHAPES", "Shape", "fetch", "main", "parse"]

API_URL = "https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/"


@dataclass(frozen=True, slots=True)
class Shape:
    """A GPU shape and the price-list part that prices its GPUs."""

    part_number: str
    spec: MachineSpec


#: Shape -> part number and machine (Oracle's shape tables, as in the seed catalog).
SHAPES: dict[str, Shape] = {
    "BM.GPU.B200.8": Shape("B110978", MachineSpec("B200", 8, 256, 4096)),
    "BM.GPU.H200.8": Shape("B110519", MachineSpec("H200", 8, 224, 3072)),
    "BM.GPU.H100.8": Shape("B98415", MachineSpec("H100", 8, 224, 2048)),
    "BM.GPU.A100-v2.8": Shape("B95907", MachineSpec("A100-80GB", 8, 256, 2048)),
    "BM.GPU4.8": Shape("B92740", MachineSpec("A100-40GB", 8, 128, 2048)),
    "BM.GPU.L40S.4": Shape("B109479", MachineSpec("L40S", 4, 224, 1024)),
    "BM.GPU.A10.4": Shape("B95909", MachineSpec("A10", 4, 128, 1024)),
    "VM.GPU.A10.2": Shape("B95909", MachineSpec("A10", 2, 60, 480)),
    "VM.GPU.A10.1": Shape("B95909", MachineSpec("A10", 1, 30, 240)),
}

#: OCI regions written for every shape: those of Modal's region guide.
REGIONS = (
    "us-ashburn-1",
    "us-chicago-1",
    "us-phoenix-1",
    "us-sanjose-1",
    "eu-frankfurt-1",
    "eu-paris-1",
    "ca-toronto-1",
    "uk-london-1",
    "ap-melbourne-1",
    "ap-sydney-1",
)


def fetch(client: httpx.Client) -> dict[str, Any]:
    """The whole USD price list."""
    document: dict[str, Any] = get_json(client, API_URL, {"currencyCode": "USD"})
    return document


def _pay_as_you_go(item: dict[str, Any]) -> float | None:
    for localization in item.get("currencyCodeLocalizations", []):
        if localization.get("currencyCode") != "USD":
            continue
        for price in localization.get("prices", []):
            value = price.get("value")
            if price.get("model") == "PAY_AS_YOU_GO" and isinstance(value, int | float):
                return float(value) if value > 0 else None
    return None


def parse(responses: dict[str, Any], as_of: datetime.date) -> list[Offer]:
    """Offers for every shape whose part has a pay-as-you-go GPU-hour price, in each region."""
    per_gpu: dict[str, float] = {}
    for item in responses.get("items", []):
        if item.get("metricName") != "GPU Per Hour":
            continue
        price = _pay_as_you_go(item)
        if price is not None:
            per_gpu[str(item.get("partNumber"))] = price
    updated = str(responses.get("lastUpdated", ""))[:10]
    offers = []
    for name, shape in SHAPES.items():
        price = per_gpu.get(shape.part_number)
        if price is None:
            continue
        spec = shape.spec
        source = (
            f"{API_URL}?currencyCode=USD (Oracle price list"
            f"{', lastUpdated ' + updated if updated else ''}, fetched {as_of.isoformat()}): "
            f"part {shape.part_number} {price:g} USD/GPU-h x {spec.gpu_count} GPUs; "
            "the same price in every commercial region"
        )
        for region in REGIONS:
            offers.append(
                Offer(
                    provider="oci",
                    instance_type=name,
                    gpu_type=spec.gpu_type,
                    gpu_count=spec.gpu_count,
                    vcpus=spec.vcpus,
                    memory_gib=spec.memory_gib,
                    region=region,
                    on_demand_usd_per_hour=price * spec.gpu_count,
                    spot_usd_per_hour=None,
                    source=source,
                    as_of=as_of,
                )
            )
    return offers


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strato.pricing.fetchers.oci --out pricing/data/oci.csv``."""
    status: int = run_fetcher(
        argv, provider="oci", fetch=lambda client, args: fetch(client), parse=parse
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
