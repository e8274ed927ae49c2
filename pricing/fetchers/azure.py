"""Refresh ``pricing/data/azure.csv`` from the Azure Retail Prices API (no credentials).

``GET https://prices.azure.com/api/retail/prices?$filter=...`` answers pages of ``Items``
(one per meter: ``armSkuName``, ``armRegionName``, ``retailPrice``, ``skuName``,
``productName``, ``type``, ``unitOfMeasure``, ``effectiveStartDate``) linked by
``NextPageLink``. One query per region asks for the VM sizes in :data:`SIZES`.

Kept: ``type`` Consumption, ``unitOfMeasure`` "1 Hour", USD, Linux meters (a Windows meter's
``productName`` ends in "Windows"). A ``skuName`` ending in "Spot" is the spot price and one
ending in "Low Priority" (the older Batch/scale-set tier) is skipped. A spot meter priced at or
above on-demand (as the H200 v5 meter is in some captures) gives no spot price. Where several
meters price the same size, the one with the latest ``effectiveStartDate`` wins.

The API does not describe the sizes, so :data:`SIZES` gives each one's GPUs, vCPUs and memory.

Run: ``python -m strato.pricing.fetchers.azure --out pricing/data/azure.csv [--region ...]``.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence
from typing import Any

import httpx

from strato.pricing.fetchers.common import MachineSpec, get_json, run_fetcher
from strato.pricing.offer import Offer

__all__ = ["DEFAULT_REGIONS", "SIZES", "fetch", "main", "parse"]

API_URL = "https://prices.azure.com/api/retail/prices"

#: VM size -> GPUs, vCPUs, memory GiB (Microsoft's size tables, as in the seed catalog).
SIZES: dict[str, MachineSpec] = {
    "Standard_ND96isr_H200_v5": MachineSpec("H200", 8, 96, 1850),
    "Standard_ND96isr_H100_v5": MachineSpec("H100", 8, 96, 1900),
    # H100 NVL (94 GB), sold as H100.
    "Standard_NC40ads_H100_v5": MachineSpec("H100", 1, 40, 320),
    "Standard_NC80adis_H100_v5": MachineSpec("H100", 2, 80, 640),
    "Standard_ND96amsr_A100_v4": MachineSpec("A100-80GB", 8, 96, 1800),
    "Standard_ND96asr_v4": MachineSpec("A100-40GB", 8, 96, 900),
    "Standard_NC24ads_A100_v4": MachineSpec("A100-80GB", 1, 24, 220),
    "Standard_NC48ads_A100_v4": MachineSpec("A100-80GB", 2, 48, 440),
    "Standard_NC96ads_A100_v4": MachineSpec("A100-80GB", 4, 96, 880),
    "Standard_NV36ads_A10_v5": MachineSpec("A10", 1, 36, 440),
    "Standard_NV36adms_A10_v5": MachineSpec("A10", 1, 36, 880),
    "Standard_NV72ads_A10_v5": MachineSpec("A10", 2, 72, 880),
    "Standard_NC4as_T4_v3": MachineSpec("T4", 1, 4, 28),
    "Standard_NC8as_T4_v3": MachineSpec("T4", 1, 8, 56),
    "Standard_NC16as_T4_v3": MachineSpec("T4", 1, 16, 110),
    "Standard_NC64as_T4_v3": MachineSpec("T4", 4, 64, 440),
}

#: Regions fetched unless ``--region`` says otherwise.
DEFAULT_REGIONS = (
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "southcentralus",
    "westeurope",
    "swedencentral",
    "japaneast",
)


def _filter(region: str, sizes: Sequence[str]) -> str:
    names = " or ".join(f"armSkuName eq '{name}'" for name in sizes)
    return (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
        f"and armRegionName eq '{region}' and ({names})"
    )


def fetch(client: httpx.Client, regions: Sequence[str] = DEFAULT_REGIONS) -> dict[str, Any]:
    """Every meter of :data:`SIZES` in ``regions``, all pages merged: ``{"Items": [...]}``."""
    items: list[Any] = []
    for region in regions:
        url: str | None = API_URL
        params: dict[str, str] | None = {"$filter": _filter(region, list(SIZES))}
        while url:
            page = get_json(client, url, params)
            items.extend(page.get("Items", []))
            url, params = page.get("NextPageLink"), None  # the link carries the query
    return {"Items": items}


def _kind(item: dict[str, Any]) -> str | None:
    """``"on_demand"``, ``"spot"``, or None for a meter not kept."""
    if item.get("type", "Consumption") != "Consumption":
        return None
    if item.get("currencyCode", "USD") != "USD" or item.get("unitOfMeasure") != "1 Hour":
        return None
    if str(item.get("productName", "")).endswith("Windows"):
        return None
    sku = str(item.get("skuName", ""))
    if sku.endswith("Low Priority"):
        return None
    return "spot" if sku.endswith("Spot") else "on_demand"


def parse(responses: dict[str, Any], as_of: datetime.date) -> list[Offer]:
    """Offers from :func:`fetch`'s response: one per size and region with an on-demand price."""
    chosen: dict[tuple[str, str, str], tuple[str, float]] = {}
    for item in responses.get("Items", []):
        size = str(item.get("armSkuName", ""))
        region = str(item.get("armRegionName", ""))
        kind = _kind(item)
        price = item.get("retailPrice")
        if size not in SIZES or not region or kind is None:
            continue
        if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
            continue
        key = (size, region, kind)
        start = str(item.get("effectiveStartDate", ""))
        if key not in chosen or start > chosen[key][0]:
            chosen[key] = (start, float(price))
    offers = []
    for (size, region, kind), (_, on_demand) in chosen.items():
        if kind != "on_demand":
            continue
        spec = SIZES[size]
        spot_entry = chosen.get((size, region, "spot"))
        spot = spot_entry[1] if spot_entry and spot_entry[1] < on_demand else None
        offers.append(
            Offer(
                provider="azure",
                instance_type=size,
                gpu_type=spec.gpu_type,
                gpu_count=spec.gpu_count,
                vcpus=spec.vcpus,
                memory_gib=spec.memory_gib,
                region=region,
                on_demand_usd_per_hour=on_demand,
                spot_usd_per_hour=spot,
                source=f"{API_URL} (Azure Retail Prices API, fetched {as_of.isoformat()})",
                as_of=as_of,
            )
        )
    return offers


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", action="append", help="region to fetch (repeatable; default: a US/EU/JP set)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strato.pricing.fetchers.azure --out pricing/data/azure.csv``."""
    status: int = run_fetcher(
        argv,
        provider="azure",
        fetch=lambda client, args: fetch(client, args.region or DEFAULT_REGIONS),
        parse=parse,
        add_arguments=_arguments,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
