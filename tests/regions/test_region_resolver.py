"""resolve_regions / validate_cloud / pricing_zones against Modal's region guide."""

from __future__ import annotations

import pytest

import strato.regions
from strato.exception import InvalidError
from strato.regions import (
    CLOUDS,
    Region,
    all_regions,
    broad_region_names,
    pricing_zones,
    resolve_regions,
    validate_cloud,
)

# Written from the tables in Modal's "Region selection" guide, independently of the CSV, so a
# data error in regions.csv fails here.
GUIDE: dict[str, dict[str, set[str]]] = {
    "us-east": {
        "aws": {"us-east-1", "us-east-2"},
        "gcp": {"us-east1", "us-east4", "us-east5"},
        "oci": {"us-ashburn-1"},
        "azure": {"eastus", "eastus2"},
    },
    "us-central": {
        "gcp": {"us-central1"},
        "oci": {"us-chicago-1", "us-phoenix-1"},
        "azure": {"centralus", "northcentralus", "southcentralus", "westcentralus"},
    },
    "us-west": {
        "aws": {"us-west-1", "us-west-2"},
        "gcp": {"us-west1", "us-west3", "us-west4"},
        "oci": {"us-sanjose-1"},
        "azure": {"westus", "westus2", "westus3"},
    },
    "eu-west": {
        "aws": {"eu-central-1", "eu-west-1", "eu-west-3"},
        "gcp": {"europe-west1", "europe-west3", "europe-west4"},
        "oci": {"eu-frankfurt-1", "eu-paris-1"},
        "azure": {"francecentral", "germanywestcentral", "switzerlandnorth", "westeurope"},
    },
    "eu-north": {
        "aws": {"eu-north-1"},
        "azure": {"swedencentral", "northeurope", "norwayeast"},
    },
    "ap-northeast": {
        "gcp": {"asia-northeast3", "asia-northeast1"},
        "aws": {"ap-northeast-1", "ap-northeast-3"},
        "azure": {"koreacentral", "japaneast", "japanwest"},
    },
    "ap-southeast": {
        "gcp": {"asia-southeast1"},
        "aws": {"ap-southeast-3"},
        "azure": {"southeastasia"},
    },
    "ap-south": {
        "aws": {"ap-south-1"},
        "azure": {"centralindia", "westindia"},
    },
    "ca": {
        "aws": {"ca-central-1"},
        "oci": {"ca-toronto-1"},
        "azure": {"canadacentral", "canadaeast"},
    },
    "uk": {
        "oci": {"uk-london-1"},
        "gcp": {"europe-west2"},
        "aws": {"eu-west-2"},
        "azure": {"uksouth"},
    },
    "jp": {
        "aws": {"ap-northeast-1", "ap-northeast-3"},
        "gcp": {"asia-northeast1"},
        "azure": {"japaneast", "japanwest"},
    },
    "me": {"gcp": {"me-west1"}, "azure": {"uaenorth"}},
    "sa": {"aws": {"sa-east-1"}, "azure": {"brazilsouth"}},
    "au": {"oci": {"ap-melbourne-1", "ap-sydney-1"}, "azure": {"australiaeast"}},
    "af": {"azure": {"southafricanorth"}},
}
TOP_LEVEL = {
    "us": ("us-east", "us-central", "us-west"),
    "eu": ("eu-west", "eu-north"),
    "ap": ("ap-northeast", "ap-southeast", "ap-south"),
}
for _top, _parts in TOP_LEVEL.items():
    GUIDE[_top] = {}
    for _part in _parts:
        for _provider, _names in GUIDE[_part].items():
            GUIDE[_top].setdefault(_provider, set()).update(_names)

PROVIDERS = ("aws", "gcp", "oci", "azure")


def by_provider(regions: list[Region]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for region in regions:
        grouped.setdefault(region.provider, set()).add(region.name)
    return grouped


def names(regions: list[Region]) -> list[str]:
    return [region.name for region in regions]


def test_all_names_in_dunder_all_exist() -> None:
    for name in strato.regions.__all__:
        assert hasattr(strato.regions, name), name


def test_broad_names_are_exactly_the_guides() -> None:
    assert set(broad_region_names()) == set(GUIDE)


@pytest.mark.parametrize("broad", sorted(GUIDE))
def test_broad_name_resolves_to_the_guides_regions(broad: str) -> None:
    assert by_provider(resolve_regions(broad)) == GUIDE[broad]


@pytest.mark.parametrize("broad", sorted(GUIDE))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_broad_name_with_cloud_keeps_only_that_providers_regions(broad: str, provider: str) -> None:
    expected = GUIDE[broad].get(provider)
    if expected is None:
        with pytest.raises(InvalidError) as info:
            resolve_regions(broad, cloud=provider)
        message = str(info.value)
        assert "region" in message and f"cloud={provider!r}" in message
        for other in GUIDE[broad]:
            assert other in message.split("clouds that do:")[1]
    else:
        regions = resolve_regions(broad, cloud=provider)
        assert {region.provider for region in regions} == {provider}
        assert set(names(regions)) == expected


def test_aws_us_east_is_virginia_and_ohio() -> None:
    regions = resolve_regions("us-east", cloud="aws")
    assert names(regions) == ["us-east-1", "us-east-2"]
    assert [region.city for region in regions] == ["Virginia", "Ohio"]


def test_oci_has_no_eu_north_and_error_names_the_clouds_that_do() -> None:
    with pytest.raises(InvalidError, match=r"clouds that do: aws, azure"):
        resolve_regions("eu-north", cloud="oci")


def test_specific_region_id_resolves_to_itself() -> None:
    assert [(r.provider, r.name) for r in resolve_regions("us-ashburn-1")] == [
        ("oci", "us-ashburn-1")
    ]
    assert names(resolve_regions("eastus", cloud="azure")) == ["eastus"]


def test_specific_region_of_another_cloud_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"cloud='gcp'.*us-east-1.*clouds that do: aws"):
        resolve_regions("us-east-1", cloud="gcp")


def test_region_and_cloud_are_case_insensitive() -> None:
    assert names(resolve_regions("US-East", cloud="AWS")) == ["us-east-1", "us-east-2"]
    assert names(resolve_regions(" EU-NORTH-1 ")) == ["eu-north-1"]
    assert resolve_regions("JP") == resolve_regions("jp")


def test_list_is_the_union_in_order_without_duplicates() -> None:
    regions = resolve_regions(["us-east-2", "us-east", "jp"], cloud="aws")
    assert names(regions) == ["us-east-2", "us-east-1", "ap-northeast-1", "ap-northeast-3"]
    assert resolve_regions(("uk", "UK")) == resolve_regions("uk")


def test_list_of_broad_names_covers_both() -> None:
    regions = resolve_regions(["us-central", "us-east"])
    assert by_provider(regions) == {
        provider: GUIDE["us-central"].get(provider, set()) | GUIDE["us-east"].get(provider, set())
        for provider in PROVIDERS
    }


def test_no_region_means_every_region_of_the_cloud() -> None:
    assert resolve_regions(None) == all_regions()
    assert resolve_regions(None, cloud="auto") == all_regions()
    oci = resolve_regions(None, cloud="oci")
    assert oci and {region.provider for region in oci} == {"oci"}
    assert len(oci) == sum(1 for region in all_regions() if region.provider == "oci")


def test_local_cloud_has_no_regions() -> None:
    assert resolve_regions(None, cloud="local") == []


def test_local_cloud_with_a_region_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"region=.*cloud='local'"):
        resolve_regions("us-east", cloud="local")


def test_unknown_region_names_argument_broad_names_and_nearest_match() -> None:
    with pytest.raises(InvalidError) as info:
        resolve_regions("us-eats")
    message = str(info.value)
    assert message.startswith("region='us-eats'")
    assert "us, us-east, us-central" in message and "af" in message
    assert "did you mean" in message and "'us-east'" in message


def test_unknown_item_in_a_list_is_reported() -> None:
    with pytest.raises(InvalidError, match=r"region='eu-wset'.*did you mean 'eu-west'"):
        resolve_regions(["us-east", "eu-wset"])


def test_empty_region_list_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"region=\[\]"):
        resolve_regions([])


def test_region_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"region must be a str.*got int"):
        resolve_regions(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidError, match=r"region\[1\] must be a str, got NoneType"):
        resolve_regions(["us", None])  # type: ignore[list-item]


@pytest.mark.parametrize("cloud", ["aws", "GCP", "Azure", "oci", "local"])
def test_validate_cloud_lowers_known_clouds(cloud: str) -> None:
    assert validate_cloud(cloud) == cloud.lower()


def test_validate_cloud_any_is_none() -> None:
    assert validate_cloud(None) is None
    assert validate_cloud("AUTO") is None


def test_validate_cloud_rejects_unknown_with_choices_and_suggestion() -> None:
    with pytest.raises(InvalidError) as info:
        validate_cloud("azur")
    message = str(info.value)
    assert message.startswith("cloud='azur'")
    assert ", ".join(CLOUDS) in message
    assert "did you mean 'azure'" in message


def test_unknown_cloud_is_rejected_by_resolve_regions() -> None:
    with pytest.raises(InvalidError, match=r"cloud='amazon'"):
        resolve_regions("us", cloud="amazon")


def test_cloud_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"cloud must be a str or None, got int"):
        validate_cloud(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("region", "zones"),
    [
        ("us", {"US"}),
        ("eu", {"EU"}),
        ("ap", {"AP"}),
        ("jp", {"AP"}),
        ("uk", {"other"}),
        ("ca", {"other"}),
        ("me", {"other"}),
        ("sa", {"other"}),
        ("au", {"other"}),
        ("af", {"other"}),
        (["us-east", "au"], {"US", "other"}),
    ],
)
def test_pricing_zones_follow_the_guides_grouping(region: str | list[str], zones: set[str]) -> None:
    assert pricing_zones(resolve_regions(region)) == zones


def test_pricing_zones_of_nothing_is_empty() -> None:
    assert pricing_zones([]) == set()
