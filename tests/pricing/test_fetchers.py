"""Price fetchers: parse recorded API responses into catalog rows, no network.

The fixtures follow the real response shapes (AWS price-page JSON and spot feed, Azure Retail
Prices API pages, Cloud Billing Catalog SKU pages, Oracle's price list) with a few entries each.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.pricing.catalog import load_catalog
from strato.pricing.fetchers import aws, azure, gcp, oci
from strato.pricing.offer import Offer

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = datetime.date(2026, 11, 27)


def _json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _rows(offers: list[Offer]) -> dict[tuple[str, str], tuple[object, ...]]:
    """(instance type, region) -> (gpu type, count, vcpus, memory, on-demand, spot)."""
    return {
        (o.instance_type, o.region): (
            o.gpu_type,
            o.gpu_count,
            o.vcpus,
            o.memory_gib,
            o.on_demand_usd_per_hour,
            o.spot_usd_per_hour,
        )
        for o in offers
    }


def _aws_responses() -> dict[str, Any]:
    return {"on_demand": _json("aws_on_demand.json"), "spot": _json("aws_spot.json")}


def test_aws_parse_keeps_known_gpu_types_and_cpu_families_with_spot() -> None:
    offers = aws.parse(_aws_responses(), AS_OF)
    assert _rows(offers) == {
        ("p5.48xlarge", "us-east-1"): ("H100", 8, 192, 2048.0, 55.04, None),
        ("g5.xlarge", "us-east-1"): ("A10", 1, 4, 16.0, 1.006, 0.4246),
        ("g4dn.metal", "us-east-1"): ("T4", 8, 96, 384.0, 7.824, 2.9236),
        ("m7i.large", "us-east-1"): (None, 0, 2, 8.0, 0.1008, 0.0402),
        # "EU (Frankfurt)" is the older spelling of Europe (Frankfurt); "1,152 GiB" has a comma
        ("g5.xlarge", "eu-central-1"): ("A10", 1, 4, 16.0, 1.258, 0.6059),
        ("p4d.24xlarge", "eu-central-1"): ("A100-40GB", 8, 96, 1152.0, 27.43298, None),
    }
    assert all(o.provider == "aws" and o.as_of == AS_OF for o in offers)
    g5 = next(o for o in offers if o.instance_type == "g5.xlarge" and o.region == "us-east-1")
    assert "US%20East%20%28N.%20Virginia%29/Linux/index.json" in g5.source
    assert "spot.json" in g5.source


def test_aws_fetch_asks_each_regions_price_file_and_the_spot_feed() -> None:
    requested: list[str] = []
    documents = _json("aws_on_demand.json")

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        if request.url.host == "website.spot.ec2.aws.a2z.com":
            return httpx.Response(200, json=_json("aws_spot.json"))
        region = "eu-central-1" if "Frankfurt" in request.url.path else "us-east-1"
        return httpx.Response(200, json=documents[region])

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        responses = aws.fetch(client, ["us-east-1", "eu-central-1"])
    assert requested == [
        "https://b0.p.awsstatic.com/pricing/2.0/meteredUnitMaps/ec2/USD/current/"
        "ec2-ondemand-without-sec-sel/US%20East%20%28N.%20Virginia%29/Linux/index.json",
        "https://b0.p.awsstatic.com/pricing/2.0/meteredUnitMaps/ec2/USD/current/"
        "ec2-ondemand-without-sec-sel/Europe%20%28Frankfurt%29/Linux/index.json",
        "https://website.spot.ec2.aws.a2z.com/spot.json",
    ]
    assert len(aws.parse(responses, AS_OF)) == 6


def test_azure_parse_keeps_linux_consumption_meters_and_usable_spot() -> None:
    items = _json("azure_retail_prices_page1.json")["Items"]
    items += _json("azure_retail_prices_page2.json")["Items"]
    offers = azure.parse({"Items": items}, AS_OF)
    assert _rows(offers) == {
        # Windows and Low Priority meters are skipped; the Linux spot meter is kept
        ("Standard_ND96isr_H100_v5", "eastus2"): ("H100", 8, 96, 1900, 98.32, 18.169536),
        # a spot meter equal to on-demand is no spot price
        ("Standard_ND96isr_H200_v5", "eastus2"): ("H200", 8, 96, 1850, 84.8, None),
        # of two on-demand meters the later effectiveStartDate wins; unknown sizes are skipped
        ("Standard_NC4as_T4_v3", "eastus"): ("T4", 1, 4, 28, 0.526, 0.062699),
    }


def test_azure_fetch_follows_next_page_links() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = "page2" if "$skip" in str(request.url) else "page1"
        return httpx.Response(200, json=_json(f"azure_retail_prices_{page}.json"))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        responses = azure.fetch(client, ["eastus2"])
    assert len(requests) == 2
    query = requests[0].url.params["$filter"]
    assert "armRegionName eq 'eastus2'" in query
    assert "armSkuName eq 'Standard_ND96isr_H100_v5'" in query
    assert len(responses["Items"]) == 11
    assert len(azure.parse(responses, AS_OF)) == 3


def _gcp_responses() -> dict[str, Any]:
    skus = _json("gcp_skus_page1.json")["skus"] + _json("gcp_skus_page2.json")["skus"]
    return {"regions": ["us-central1", "us-east4", "us-east1"], "skus": skus}


def test_gcp_parse_sums_core_ram_and_gpu_skus() -> None:
    rows = _rows(gcp.parse(_gcp_responses(), AS_OF))
    a2 = rows[("a2-highgpu-1g", "us-central1")]
    assert a2[:4] == ("A100-40GB", 1, 12, 85)
    # 12 x 0.031611 + 85 x 0.004237 + 2.933908; DWS and commitment SKUs are not used
    assert a2[4] == pytest.approx(3.673385)
    assert a2[5] == pytest.approx(12 * 0.0122 + 85 * 0.0016 + 1.46)
    assert rows[("a2-highgpu-8g", "us-central1")][4] == pytest.approx(8 * 3.673385)
    # the A100 SKU prices us-central1 only, so no A2 machine elsewhere
    assert {region for (name, region) in rows if name.startswith("a2-")} == {"us-central1"}


def test_gcp_parse_prefers_the_regional_sku_and_attaches_t4s_to_n1() -> None:
    offers = gcp.parse(_gcp_responses(), AS_OF)
    rows = _rows([o for o in offers if o.gpu_count == 0])
    assert rows[("n1-standard-4", "us-central1")] == (
        None, 0, 4, 15, pytest.approx(0.189999), pytest.approx(0.041945),
    )  # fmt: skip
    # "running in Virginia" (us-east4 only) beats "running in Americas"
    assert rows[("n1-standard-4", "us-east4")][4] == pytest.approx(4 * 0.035605 + 15 * 0.004772)
    t4 = {(o.instance_type, o.gpu_count, o.region): o for o in offers if o.gpu_type == "T4"}
    assert t4[("n1-standard-16", 4, "us-east1")].on_demand_usd_per_hour == pytest.approx(
        16 * 0.031611 + 60 * 0.004237 + 4 * 0.35
    )
    assert {region for (_, _, region) in t4} == {"us-central1", "us-east1"}
    assert len(t4) == 12


def test_gcp_fetch_pages_with_the_api_key() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = "page2" if request.url.params.get("pageToken") == "page-2" else "page1"
        return httpx.Response(200, json=_json(f"gcp_skus_{page}.json"))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        responses = gcp.fetch(client, "test-key", ["us-central1"])
    assert [r.url.params["key"] for r in requests] == ["test-key", "test-key"]
    assert len(responses["skus"]) == 17
    assert {o.region for o in gcp.parse(responses, AS_OF)} == {"us-central1"}


def test_oci_parse_prices_shapes_per_gpu_in_every_region() -> None:
    offers = oci.parse(_json("oci_products.json"), AS_OF)
    by_shape: dict[str, set[float]] = {}
    for offer in offers:
        by_shape.setdefault(offer.instance_type, set()).add(offer.on_demand_usd_per_hour)
    assert by_shape == {
        "BM.GPU.H100.8": {80.0},
        "BM.GPU.A10.4": {8.0},
        "VM.GPU.A10.2": {4.0},
        "VM.GPU.A10.1": {2.0},
    }
    assert len(offers) == 4 * len(oci.REGIONS)
    assert "lastUpdated 2026-08-14" in offers[0].source


def test_oci_fetch_asks_for_usd() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["currencyCode"] == "USD"
        return httpx.Response(200, json=_json("oci_products.json"))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert len(oci.parse(oci.fetch(client), AS_OF)) == 40


def test_fetcher_command_writes_a_catalog_file_that_loads_cleanly(tmp_path: Path) -> None:
    saved = tmp_path / "responses.json"
    saved.write_text(json.dumps(_aws_responses()))
    out = tmp_path / "aws.csv"
    status = aws.main(["--responses", str(saved), "--out", str(out), "--as-of", "2026-11-27"])
    assert status == 0
    catalog = load_catalog([out])
    assert catalog.problems == []
    assert sorted((o.instance_type, o.region) for o in catalog) == sorted(
        _rows(aws.parse(_aws_responses(), AS_OF))
    )
    assert {o.as_of for o in catalog} == {AS_OF}
    assert out.read_text().splitlines()[1].startswith("aws,g4dn.metal,T4,8,96,384,us-east-1,7.824,")


def test_fetcher_command_leaves_the_file_alone_when_nothing_parses(tmp_path: Path) -> None:
    saved = tmp_path / "responses.json"
    saved.write_text(json.dumps({"items": []}))
    out = tmp_path / "oci.csv"
    out.write_text("previous\n")
    assert oci.main(["--responses", str(saved), "--out", str(out)]) == 1
    assert out.read_text() == "previous\n"
