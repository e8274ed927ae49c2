"""The region table: the shipped CSV and how a malformed file is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from strato.regions import PRICING_ZONES, PROVIDERS, Region, all_regions
from strato.regions.catalog import COLUMNS, REGIONS_CSV, read_regions

HEADER = ",".join(COLUMNS)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_table_loads_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    regions = read_regions(REGIONS_CSV)
    assert not [str(w.message) for w in recwarn]
    assert len(regions) == 70


def test_shipped_table_rows_are_well_formed() -> None:
    regions = all_regions()
    assert len({(region.provider, region.name) for region in regions}) == len(regions)
    for region in regions:
        assert region.provider in PROVIDERS
        assert region.pricing_zone in PRICING_ZONES
        assert len(region.country) == 2 and region.country.isupper()


def test_region_fields_are_parsed() -> None:
    japaneast = next(region for region in all_regions() if region.name == "japaneast")
    assert japaneast == Region(
        provider="azure",
        name="japaneast",
        city="Tokyo, Saitama",
        country="JP",
        pricing_zone="AP",
        broad=("ap", "ap-northeast", "jp"),
    )
    assert str(japaneast) == "azure:japaneast"


def test_region_outside_the_guide_resolves_only_by_its_id() -> None:
    spain = next(region for region in all_regions() if region.name == "eu-south-2")
    assert spain.provider == "aws" and spain.broad == () and spain.country == "ES"


def test_all_regions_returns_a_fresh_list() -> None:
    first = all_regions()
    first.clear()
    assert all_regions()


def test_malformed_rows_warn_with_file_and_line_and_the_rest_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# comment\n"
        f"{HEADER}\n"
        "aws,us-east-1,us;us-east,Virginia,US,US\n"
        "aws,us-east-2,us;us-east,Ohio,US\n"
        "ibm,us-south,us,Dallas,US,US\n"
        "\n"
        "gcp,us-central1,us;us-central,Iowa,USA,US\n"
        "gcp,us-west1,us;us-west,Oregon,US,cheap\n"
        "aws,us-east-1,us;us-east,Virginia,US,US\n"
        "azure,eastus,us;us-east,Virginia,US,US\n",
    )
    with pytest.warns(RuntimeWarning) as caught:
        regions = read_regions(path)
    assert [(region.provider, region.name) for region in regions] == [
        ("aws", "us-east-1"),
        ("azure", "eastus"),
    ]
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith(f"{path}:4: expected 6 columns")
    assert messages[1].startswith(f"{path}:5: provider 'ibm'")
    assert messages[2].startswith(f"{path}:7: country 'USA'")
    assert messages[3].startswith(f"{path}:8: pricing_zone 'cheap'")
    assert messages[4].startswith(f"{path}:9: aws:us-east-1 is listed twice")
    assert len(messages) == 5


def test_wrong_header_loads_nothing_and_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "provider,region\naws,us-east-1\n")
    with pytest.warns(RuntimeWarning, match=r"regions.csv:1: header must be"):
        assert read_regions(path) == []


def test_empty_file_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing\n")
    with pytest.warns(RuntimeWarning, match=r"no header"):
        assert read_regions(path) == []
