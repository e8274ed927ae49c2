"""The packaged price catalog, its file format and its queries."""

from __future__ import annotations

import csv
import datetime
import re
import time
import warnings
from pathlib import Path

import pytest

from strato.pricing.catalog import Catalog, CatalogWarning, Offer, load_catalog, packaged_files
from strato.pricing.offer import COLUMNS, parse_offers

DATA = Path(__file__).resolve().parents[2] / "pricing" / "data"
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CatalogWarning)
        return load_catalog()


def _offer(**fields: object) -> Offer:
    values: dict[str, object] = {
        "provider": "aws",
        "instance_type": "g5.xlarge",
        "gpu_type": "A10",
        "gpu_count": 1,
        "vcpus": 4,
        "memory_gib": 16.0,
        "region": "us-east-1",
        "on_demand_usd_per_hour": 1.0,
        "spot_usd_per_hour": None,
        "source": "test",
        "as_of": datetime.date(2026, 1, 1),
    }
    values.update(fields)
    return Offer(**values)  # type: ignore[arg-type]


def test_packaged_catalog_loads_all_four_providers_without_problems(catalog: Catalog) -> None:
    assert catalog.providers() == ["aws", "azure", "gcp", "oci"]
    assert catalog.problems == []
    assert {file.name for file in packaged_files()} == {
        "aws.csv",
        "azure.csv",
        "gcp.csv",
        "oci.csv",
    }


@pytest.mark.parametrize(
    ("provider", "families"),
    [
        ("aws", ["p6-b200.", "p5en.", "p5.", "p4de.", "p4d.", "g6e.", "g6.", "g5.", "g4dn."]),
        ("gcp", ["a3-ultragpu-", "a3-megagpu-", "a3-highgpu-", "a2-ultragpu-", "a2-highgpu-",
                 "g2-standard-", "n1-standard-"]),
        ("azure", ["Standard_ND96isr_H200", "Standard_ND96isr_H100", "Standard_NC40ads_H100",
                   "Standard_ND96amsr_A100", "Standard_NC24ads_A100", "Standard_NV36ads_A10",
                   "Standard_NC4as_T4"]),
        ("oci", ["BM.GPU.B200", "BM.GPU.H200", "BM.GPU.H100", "BM.GPU.A100-v2", "BM.GPU4",
                 "BM.GPU.L40S", "BM.GPU.A10", "VM.GPU.A10"]),
    ],
)  # fmt: skip
def test_packaged_catalog_covers_each_providers_gpu_families(
    catalog: Catalog, provider: str, families: list[str]
) -> None:
    types = {offer.instance_type for offer in catalog.offers(provider=provider)}
    missing = [family for family in families if not any(t.startswith(family) for t in types)]
    assert missing == []


def test_packaged_catalog_has_every_canonical_gpu_type(catalog: Catalog) -> None:
    assert catalog.gpu_types() == [
        "T4", "L4", "A10", "A100-40GB", "A100-80GB", "L40S", "H100", "H200", "B200",
    ]  # fmt: skip


def test_every_packaged_row_has_a_source_and_a_date_or_says_it_is_undated() -> None:
    for path in sorted(DATA.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                assert row["source"].strip(), (path.name, row)
                assert re.fullmatch(r"\d{4}-\d\d-\d\d|n\.d\.", row["as_of"]), (path.name, row)
                if row["as_of"] == "n.d.":
                    assert "undated" in row["source"], (path.name, row)


def test_packaged_prices_match_the_reference(catalog: Catalog) -> None:
    (p5,) = catalog.offers(provider="aws", region="us-east-1", gpu_type="H100", gpu_count=8)
    assert (p5.instance_type, p5.on_demand_usd_per_hour) == ("p5.48xlarge", 55.04)
    assert p5.as_of == datetime.date(2026, 10, 6)
    assert p5.spot_usd_per_hour == 17.6289
    assert "macrogauge" in p5.source
    (h100,) = catalog.offers(provider="oci", region="us-ashburn-1", gpu_type="H100")
    assert (h100.instance_type, h100.gpu_count, h100.on_demand_usd_per_hour) == (
        "BM.GPU.H100.8",
        8,
        80.0,
    )


def test_no_price_is_invented_for_a_region_the_reference_does_not_list(catalog: Catalog) -> None:
    p5_regions = {
        o.region for o in catalog.offers(provider="aws") if o.instance_type.startswith("p5.")
    }
    assert "eu-central-1" not in p5_regions and "eu-west-1" not in p5_regions
    assert catalog.regions("azure") == [
        "centralus", "eastus", "eastus2", "southcentralus", "westus", "westus2", "westus3",
    ]  # fmt: skip


def test_cpu_only_offers_have_no_gpu(catalog: Catalog) -> None:
    cpu = catalog.offers(gpu_count=0)
    assert cpu and all(offer.gpu_type is None for offer in cpu)
    assert {"n1-standard-4", "n1-standard-8", "n1-standard-16", "m6i.large", "m6i.xlarge"} <= {
        offer.instance_type for offer in cpu
    }


def test_loading_the_whole_catalog_is_fast() -> None:
    load_catalog()  # imports and warms caches
    started = time.perf_counter()
    load_catalog()
    # a loose bound: the real figure (a few ms) is benchmarks/bench_placement.py's business
    assert time.perf_counter() - started < 1.0


def test_malformed_rows_are_reported_with_file_and_line_and_the_rest_loads(tmp_path: Path) -> None:
    good = "aws,g5.xlarge,A10G,1,4,16,us-east-1,1.006,0.42,https://example.test/a,2026-10-06"
    path = tmp_path / "mixed.csv"
    path.write_text(
        "\n".join(
            [
                "# a comment line",
                HEADER,
                good,
                "aws,g5.2xlarge,A10,1,8,32,us-east-1,1.212",  # too few columns
                "aws,g5.4xlarge,A10,1,16,64,us-east-1,cheap,,https://example.test/b,2026-10-06",
                "aws,x9.large,Z80,1,2,4,us-east-1,1.0,,https://example.test/c,2026-10-06",
                "aws,g6.xlarge,L4,1,4,16,us-east-1,0.8048,,https://example.test/d,06/10/2026",
                "aws,g6.xlarge,L4,1,4,16,us-east-2,0.8048,,https://example.test/e,n.d.",
            ]
        )
        + "\n"
    )
    with pytest.warns(CatalogWarning) as record:
        catalog = load_catalog([path])
    assert [(o.instance_type, o.region) for o in catalog] == [
        ("g5.xlarge", "us-east-1"),
        ("g6.xlarge", "us-east-2"),
    ]
    assert catalog.offers()[0].gpu_type == "A10"  # the alias A10G is stored canonically
    assert catalog.offers()[1].as_of is None
    assert [(p.line, p.path) for p in catalog.problems] == [(n, str(path)) for n in (4, 5, 6, 7)]
    messages = [str(p) for p in catalog.problems]
    assert messages[0] == f"{path}:4: expected 11 columns, got 8"
    assert "on_demand_usd_per_hour 'cheap' is not a number" in messages[1]
    assert "unknown gpu_type 'Z80'" in messages[2]
    assert "as_of '06/10/2026'" in messages[3]
    assert [str(w.message) for w in record] == messages


def test_a_file_with_the_wrong_header_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("provider,instance,price\naws,g5.xlarge,1.0\n")
    with pytest.warns(CatalogWarning, match="bad.csv:1: header must be"):
        catalog = load_catalog([path])
    assert len(catalog) == 0


def test_duplicate_rows_keep_the_first() -> None:
    row = "aws,g5.xlarge,A10,1,4,16,us-east-1,{price},,src,2026-10-06"
    lines = [HEADER, row.format(price=1.0), row.format(price=2.0)]
    offers, problems = parse_offers([line + "\n" for line in lines], "dup.csv")
    assert [o.on_demand_usd_per_hour for o in offers] == [1.0]
    assert [str(p) for p in problems] == ["dup.csv:3: duplicate of line 2"]


def test_offers_filters_combine_and_accept_gpu_aliases(catalog: Catalog) -> None:
    a10 = catalog.offers(gpu_type="a10g", provider="aws", region=["us-east-1", "eu-west-1"])
    assert a10 and {(o.gpu_type, o.provider) for o in a10} == {("A10", "aws")}
    assert {o.region for o in a10} == {"us-east-1", "eu-west-1"}
    assert catalog.offers(gpu_type="A100") == catalog.offers(gpu_type="A100-40GB")
    assert catalog.offers(gpu_type="nonsense") == []
    eight = catalog.offers(gpu_type=["H100", "H200"], gpu_count=8)
    assert eight and all(o.gpu_count == 8 and o.gpu_type in ("H100", "H200") for o in eight)


def test_offers_returns_a_fresh_list_each_time(catalog: Catalog) -> None:
    first = catalog.offers(provider="oci")
    first.clear()
    assert catalog.offers(provider="oci")


def test_cheapest_picks_the_lowest_price_for_an_exact_gpu_count() -> None:
    catalog = Catalog(
        [
            _offer(region="a", on_demand_usd_per_hour=2.0, spot_usd_per_hour=0.5),
            _offer(region="b", on_demand_usd_per_hour=1.5),
            _offer(region="c", instance_type="g5.12xlarge", gpu_count=4, on_demand_usd_per_hour=4),
        ]
    )
    assert catalog.cheapest("A10").region == "b"  # type: ignore[union-attr]
    assert catalog.cheapest("A10", spot=True).region == "a"  # type: ignore[union-attr]
    assert catalog.cheapest("A10", 4).instance_type == "g5.12xlarge"  # type: ignore[union-attr]
    assert catalog.cheapest("A10", 2) is None
    assert catalog.cheapest("H100") is None


def test_cheapest_on_the_packaged_catalog(catalog: Catalog) -> None:
    best = catalog.cheapest("H100", 8)
    assert best is not None and best.gpu_count == 8
    assert best.on_demand_usd_per_hour == min(
        o.on_demand_usd_per_hour for o in catalog.offers(gpu_type="H100", gpu_count=8)
    )


def test_ranking_every_offer_for_a_spec_takes_under_two_milliseconds(catalog: Catalog) -> None:
    regions = catalog.regions()

    def rank() -> list[Offer]:
        offers = catalog.offers(gpu_type=["H100", "H200"], gpu_count=8, region=regions)
        return sorted(offers, key=lambda o: o.on_demand_usd_per_hour)

    rank()
    started = time.perf_counter()
    for _ in range(100):
        ranked = rank()
    assert (time.perf_counter() - started) / 100 < 0.05  # loose: see bench_placement.py
    assert len(ranked) > 20


def test_price_per_gpu_hour() -> None:
    offer = _offer(gpu_count=8, on_demand_usd_per_hour=80.0, spot_usd_per_hour=None)
    assert offer.usd_per_gpu_hour() == 10.0
    assert offer.usd_per_gpu_hour(spot=True) is None
    assert _offer(gpu_type=None, gpu_count=0).usd_per_gpu_hour() is None
