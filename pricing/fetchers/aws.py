"""Refresh ``pricing/data/aws.csv`` from AWS's public EC2 price files (no credentials).

On-demand prices come from the per-region price list JSON behind the EC2 pricing page
(``b0.p.awsstatic.com/pricing/2.0/meteredUnitMaps/ec2/USD/current/
ec2-ondemand-without-sec-sel/<Location>/Linux/index.json``): a few hundred kilobytes per
region with ``Instance Type``, ``vCPU``, ``Memory`` and ``price`` for Linux, shared tenancy,
no pre-installed software. (The Price List bulk offer file has the same prices but is over a
gigabyte per large region; the Price List Query API needs credentials.) Spot prices come
from ``website.spot.ec2.aws.a2z.com/spot.json``, the feed of the EC2 spot pricing page: one
current Linux price per instance type and region.

Neither file names an instance's GPUs, so :data:`GPUS` says which GPU type and how many each
known GPU instance type has; :data:`CPU_FAMILIES` are the CPU-only families kept.

Run: ``python -m strato.pricing.fetchers.aws --out pricing/data/aws.csv [--region ...]``.
"""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from strato.pricing.fetchers.common import MachineSpec, get_json, run_fetcher
from strato.pricing.offer import Offer

__all__ = ["CPU_FAMILIES", "GPUS", "LOCATIONS", "fetch", "main", "parse"]

ON_DEMAND_URL = (
    "https://b0.p.awsstatic.com/pricing/2.0/meteredUnitMaps/ec2/USD/current/"
    "ec2-ondemand-without-sec-sel/{location}/Linux/index.json"
)
SPOT_URL = "https://website.spot.ec2.aws.a2z.com/spot.json"

#: Region code -> the location name the price files use.
LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-north-1": "Europe (Stockholm)",
    "eu-south-2": "Europe (Spain)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "sa-east-1": "South America (Sao Paulo)",
}

#: Regions fetched unless ``--region`` says otherwise: those of the seed catalog.
DEFAULT_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "eu-north-1",
    "eu-south-2",
    "ap-northeast-1",
)

# Older spellings in both files ("EU (Frankfurt)"; legacy spot region names).
_LOCATION_ALIASES = {name.replace("Europe (", "EU ("): code for code, name in LOCATIONS.items()}
_SPOT_REGION_ALIASES = {
    "us-east": "us-east-1",
    "us-west": "us-west-1",
    "eu-ireland": "eu-west-1",
    "apac-tokyo": "ap-northeast-1",
    "apac-sin": "ap-southeast-1",
    "apac-syd": "ap-southeast-2",
}


def _family(prefix: str, gpu: str, counts: dict[str, int]) -> dict[str, MachineSpec]:
    return {f"{prefix}.{size}": MachineSpec(gpu, count) for size, count in counts.items()}


_ONE_GPU = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}
_G_SIZES = {**_ONE_GPU, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}

#: Instance type -> its GPUs (vCPU and memory come from the price file).
GPUS: dict[str, MachineSpec] = {
    "p6-b200.48xlarge": MachineSpec("B200", 8),
    "p5en.48xlarge": MachineSpec("H200", 8),
    "p5e.48xlarge": MachineSpec("H200", 8),
    "p5.48xlarge": MachineSpec("H100", 8),
    "p5.4xlarge": MachineSpec("H100", 1),
    "p4de.24xlarge": MachineSpec("A100-80GB", 8),
    "p4d.24xlarge": MachineSpec("A100-40GB", 8),
    **_family("g6e", "L40S", _G_SIZES),
    **_family("g6", "L4", _G_SIZES),
    **_family("g5", "A10", _G_SIZES),
    **_family("g4dn", "T4", {**_ONE_GPU, "12xlarge": 4, "metal": 8}),
}

#: CPU-only families kept (every size the price file lists).
CPU_FAMILIES = ("m7i", "c7i")

_MEMORY = re.compile(r"^\s*([\d,.]+)\s*GiB\s*$")


def fetch(client: httpx.Client, regions: Sequence[str] = DEFAULT_REGIONS) -> dict[str, Any]:
    """The on-demand price file of each region and the spot feed, as parsed JSON."""
    on_demand = {}
    for region in regions:
        url = ON_DEMAND_URL.format(location=quote(LOCATIONS[region]))
        on_demand[region] = get_json(client, url)
    return {"on_demand": on_demand, "spot": get_json(client, SPOT_URL)}


def _number(text: object) -> float | None:
    try:
        value = float(str(text).replace(",", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _spot_prices(document: Any) -> dict[tuple[str, str], float]:
    prices: dict[tuple[str, str], float] = {}
    if not isinstance(document, dict):
        return prices
    for region_entry in document.get("config", {}).get("regions", []):
        region = str(region_entry.get("region", ""))
        region = _SPOT_REGION_ALIASES.get(region, region)
        for group in region_entry.get("instanceTypes", []):
            for size in group.get("sizes", []):
                for column in size.get("valueColumns", []):
                    if column.get("name") != "linux":
                        continue
                    price = _number(column.get("prices", {}).get("USD"))
                    if price is not None:
                        prices[(str(size.get("size")), region)] = price
    return prices


def _spec(instance_type: str) -> MachineSpec | None:
    if instance_type in GPUS:
        return GPUS[instance_type]
    if instance_type.split(".", 1)[0] in CPU_FAMILIES:
        return MachineSpec(None, 0)
    return None


def parse(responses: dict[str, Any], as_of: datetime.date) -> list[Offer]:
    """Offers from :func:`fetch`'s responses: known GPU types and :data:`CPU_FAMILIES`."""
    spot = _spot_prices(responses.get("spot"))
    codes = {name: code for code, name in LOCATIONS.items()} | _LOCATION_ALIASES
    offers: dict[tuple[str, str], Offer] = {}
    for fetched_region, document in responses.get("on_demand", {}).items():
        for location, entries in document.get("regions", {}).items():
            region = codes.get(location, fetched_region)
            url = ON_DEMAND_URL.format(location=quote(location))
            for entry in entries.values():
                if entry.get("Operating System", "Linux") != "Linux":
                    continue
                if entry.get("Pre Installed S/W", "NA") != "NA":
                    continue
                instance_type = str(entry.get("Instance Type", ""))
                spec = _spec(instance_type)
                price = _number(entry.get("price"))
                memory = _MEMORY.match(str(entry.get("Memory", "")))
                vcpus = _number(entry.get("vCPU"))
                if spec is None or price is None or memory is None or vcpus is None:
                    continue
                spot_price = spot.get((instance_type, region))
                source = f"{url} (AWS EC2 price list, fetched {as_of.isoformat()})"
                if spot_price is not None:
                    source += f"; spot: {SPOT_URL}"
                offers[(instance_type, region)] = Offer(
                    provider="aws",
                    instance_type=instance_type,
                    gpu_type=spec.gpu_type,
                    gpu_count=spec.gpu_count,
                    vcpus=int(vcpus),
                    memory_gib=float(memory.group(1).replace(",", "")),
                    region=region,
                    on_demand_usd_per_hour=price,
                    spot_usd_per_hour=spot_price,
                    source=source,
                    as_of=as_of,
                )
    return list(offers.values())


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        action="append",
        choices=sorted(LOCATIONS),
        help="region to fetch (repeatable; default: the seed catalog's regions)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strato.pricing.fetchers.aws --out pricing/data/aws.csv``."""
    status: int = run_fetcher(
        argv,
        provider="aws",
        fetch=lambda client, args: fetch(client, args.region or DEFAULT_REGIONS),
        parse=parse,
        add_arguments=_arguments,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
