"""Operator price overrides: precedence, both price forms, malformed entries, the default file."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from strato.pricing.catalog import Catalog, CatalogWarning, default_catalog, load_catalog
from strato.pricing.offer import COLUMNS

ROWS = [
    "aws,p5.48xlarge,H100,8,192,2048,us-east-1,55.04,17.6,src,2026-10-06",
    "aws,p5.48xlarge,H100,8,192,2048,us-west-2,55.04,12.0,src,2026-10-06",
    "aws,p5en.48xlarge,H200,8,192,2048,us-east-1,63.296,,src,2026-10-06",
    "aws,g5.xlarge,A10,1,4,16,us-east-1,1.0,0.4,src,2026-10-06",
    "aws,m7i.large,,0,2,8,us-east-1,0.1,,src,2026-10-06",
    "azure,Standard_ND96isr_H100_v5,H100,8,96,1900,eastus,98.32,,src,2026-10-07",
    "azure,Standard_NC4as_T4_v3,T4,1,4,28,eastus,0.526,0.06,src,2026-10-07",
    "gcp,g2-standard-4,L4,1,4,16,us-east4,0.7045,0.3106,src,2026-07-30",
]


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text("\n".join([",".join(COLUMNS), *ROWS]) + "\n")
    return path


def _load(
    catalog_file: Path, tmp_path: Path, text: str
) -> tuple[dict[tuple[str, str], float], list[str], Catalog]:
    """Prices by (instance type, region), problems, and the catalog with ``text`` applied."""
    overrides = tmp_path / "price-overrides.toml"
    overrides.write_text(textwrap.dedent(text))
    catalog = load_catalog([catalog_file], overrides=overrides)
    prices = {(o.instance_type, o.region): o.on_demand_usd_per_hour for o in catalog}
    return prices, [str(p) for p in catalog.problems], catalog


def test_row_beats_family_beats_provider(catalog_file: Path, tmp_path: Path) -> None:
    prices, problems, _ = _load(
        catalog_file,
        tmp_path,
        """
        [aws]
        discount_percent = 10

        [aws.families]
        p5 = { discount_percent = 20 }
        p5en = { discount_percent = 30 }

        [[aws.rows]]
        instance_type = "p5.48xlarge"
        region = "us-east-1"
        usd_per_hour = 40.0
        """,
    )
    assert problems == []
    assert prices[("p5.48xlarge", "us-east-1")] == 40.0  # exact row
    assert prices[("p5.48xlarge", "us-west-2")] == pytest.approx(55.04 * 0.8)  # family p5
    assert prices[("p5en.48xlarge", "us-east-1")] == pytest.approx(63.296 * 0.7)  # longer prefix
    assert prices[("g5.xlarge", "us-east-1")] == pytest.approx(0.9)  # provider
    assert prices[("Standard_ND96isr_H100_v5", "eastus")] == 98.32  # untouched provider


def test_a_row_without_region_applies_everywhere_but_loses_to_a_row_with_one(
    catalog_file: Path, tmp_path: Path
) -> None:
    prices, problems, _ = _load(
        catalog_file,
        tmp_path,
        """
        [[aws.rows]]
        instance_type = "p5.48xlarge"
        usd_per_hour = 45.0

        [[aws.rows]]
        instance_type = "p5.48xlarge"
        region = "us-west-2"
        usd_per_hour = 44.0
        """,
    )
    assert problems == []
    assert prices[("p5.48xlarge", "us-east-1")] == 45.0
    assert prices[("p5.48xlarge", "us-west-2")] == 44.0


def test_discount_scales_spot_and_absolute_prices_set_on_demand(
    catalog_file: Path, tmp_path: Path
) -> None:
    _, problems, catalog = _load(
        catalog_file,
        tmp_path,
        """
        [azure.families]
        Standard_NC = { discount_percent = 50 }
        Standard_ND = { usd_per_gpu_hour = 9.5 }

        [[gcp.rows]]
        instance_type = "g2-standard-4"
        region = "us-east4"
        spot_usd_per_hour = 0.25
        """,
    )
    assert problems == []
    offers = {o.instance_type: o for o in catalog}
    t4 = offers["Standard_NC4as_T4_v3"]
    assert (t4.on_demand_usd_per_hour, t4.spot_usd_per_hour) == (0.263, 0.03)
    nd = offers["Standard_ND96isr_H100_v5"]
    assert nd.on_demand_usd_per_hour == 76.0  # 9.5 x 8 GPUs
    assert "override price-overrides.toml azure.families.Standard_ND" in nd.source
    l4 = offers["g2-standard-4"]
    assert (l4.on_demand_usd_per_hour, l4.spot_usd_per_hour) == (0.7045, 0.25)


def test_a_per_gpu_price_skips_cpu_only_machines(catalog_file: Path, tmp_path: Path) -> None:
    prices, problems, _ = _load(catalog_file, tmp_path, "[aws]\nusd_per_gpu_hour = 2.0\n")
    assert problems == []
    assert prices[("g5.xlarge", "us-east-1")] == 2.0
    assert prices[("p5.48xlarge", "us-east-1")] == 16.0
    assert prices[("m7i.large", "us-east-1")] == 0.1


def test_malformed_entries_are_reported_with_file_line_and_key_and_the_rest_applies(
    catalog_file: Path, tmp_path: Path
) -> None:
    with pytest.warns(CatalogWarning):
        prices, problems, _ = _load(
            catalog_file,
            tmp_path,
            """
            [aws]
            discount_percent = 120

            [aws.families]
            p5 = { discount_percent = "a lot" }
            g5 = { discount_percent = 25 }
            p5en = { usd_per_hour = 50.0 }

            [[aws.rows]]
            instance_type = "p5.48xlarge"
            region = "us-east-1"
            usd_per_hour = -3

            [[aws.rows]]
            instance_type = "p9.huge"
            usd_per_hour = 1.0

            [azure]
            discount_percent = 5
            usd_per_gpu_hour = 3.0
            """,
        )
    path = tmp_path / "price-overrides.toml"
    assert problems == [
        f"{path}:2: aws: discount_percent must be between 0 and 100, got 120",
        f"{path}:6: aws.families.p5: discount_percent must be a number, got 'a lot'",
        f"{path}:8: aws.families.p5en: unknown key usd_per_hour; allowed: discount_percent, "
        "usd_per_gpu_hour (a whole-machine price needs an exact row: [[aws.rows]])",
        f"{path}:10: aws.rows[0]: usd_per_hour must be a positive number, got -3",
        f"{path}:19: azure: set one of discount_percent, usd_per_gpu_hour, not several",
        f"{path}:15: aws.rows[1]: matches no offer in the catalog",
    ]
    assert prices[("g5.xlarge", "us-east-1")] == 0.75  # the good entry still applies
    assert prices[("p5.48xlarge", "us-east-1")] == 55.04


def test_an_unparsable_file_applies_nothing(catalog_file: Path, tmp_path: Path) -> None:
    with pytest.warns(CatalogWarning, match="not valid TOML, nothing applied"):
        prices, problems, _ = _load(catalog_file, tmp_path, "[aws\ndiscount_percent = 5\n")
    assert len(problems) == 1
    assert prices[("g5.xlarge", "us-east-1")] == 1.0


def test_default_catalog_applies_the_config_dirs_overrides_and_rereads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    plain = default_catalog()
    (list_price,) = plain.offers(provider="aws", region="us-east-1", gpu_type="H100", gpu_count=8)
    assert default_catalog() is plain  # cached

    overrides = tmp_path / "price-overrides.toml"
    overrides.write_text("[aws.families]\np5 = { discount_percent = 50 }\n")
    (discounted,) = default_catalog().offers(
        provider="aws", region="us-east-1", gpu_type="H100", gpu_count=8
    )
    assert discounted.on_demand_usd_per_hour == list_price.on_demand_usd_per_hour / 2

    overrides.write_text("[aws.families]\np5 = { discount_percent = 25 }\n")
    stat = overrides.stat()
    os.utime(overrides, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    (changed,) = default_catalog().offers(
        provider="aws", region="us-east-1", gpu_type="H100", gpu_count=8
    )
    assert changed.on_demand_usd_per_hour == pytest.approx(list_price.on_demand_usd_per_hour * 0.75)
