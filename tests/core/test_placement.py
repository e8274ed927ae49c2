"""Placement: ranking catalog offers for a function's resources (strato.core.placement)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from strato._options import validate_options
from strato.core.placement import PlacementSpec, RankedOffer, explain, rank_offers
from strato.exception import InvalidError
from strato.pricing.catalog import Catalog, default_catalog
from strato.pricing.gpu import parse_gpu
from strato.pricing.multipliers import Multipliers
from strato.pricing.offer import Offer
from strato.regions import resolve_regions

MODAL = Multipliers()


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No operator overrides or multipliers leak in from the machine running the tests.
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    return tmp_path


def offer(
    gpu_type: str | None,
    count: int,
    price: float,
    *,
    provider: str = "aws",
    region: str = "us-east-1",
    instance: str | None = None,
    vcpus: int = 8,
    memory_gib: float = 64,
    spot: float | None = None,
) -> Offer:
    return Offer(
        provider=provider,
        instance_type=instance or f"{gpu_type or 'cpu'}-{count}-{vcpus}-{price}",
        gpu_type=gpu_type,
        gpu_count=count,
        vcpus=vcpus,
        memory_gib=memory_gib,
        region=region,
        on_demand_usd_per_hour=price,
        spot_usd_per_hour=spot,
        source="test",
        as_of=None,
    )


def spec(gpu: str | list[str] | None = None, **kwargs: object) -> PlacementSpec:
    region = kwargs.pop("region", None)
    cloud = kwargs.get("cloud")
    regions = None if region is None else tuple(resolve_regions(region, cloud))  # type: ignore[arg-type]
    return PlacementSpec(gpu=tuple(parse_gpu(gpu)), regions=regions, **kwargs)  # type: ignore[arg-type]


def where(ranked: list[RankedOffer]) -> list[tuple[str, str, str | None]]:
    return [(r.offer.provider, r.offer.region, r.offer.gpu_type) for r in ranked]


# --- order -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "first_types"),
    [
        (["H100", "A100-80GB"], {"H100"}),  # the catalog has no single-GPU H200 machine
        (["H100:8", "A100-80GB:8"], {"H100", "H200"}),
    ],
)
def test_fallback_list_ranks_every_first_choice_offer_before_any_second_choice(
    gpu: list[str], first_types: set[str]
) -> None:
    ranked = rank_offers(spec(gpu), default_catalog(), multipliers=MODAL)
    types = [r.offer.gpu_type for r in ranked]
    first_a100 = types.index("A100-80GB")
    assert set(types[:first_a100]) == first_types
    assert set(types[first_a100:]) == {"A100-80GB"}
    assert [r.gpu_request_index for r in ranked] == sorted(r.gpu_request_index for r in ranked)
    # The cheapest A100-80GB is cheaper than the cheapest H100 and still comes after them all.
    assert ranked[first_a100].usd_per_hour < ranked[0].usd_per_hour


def test_an_offer_that_satisfies_two_choices_is_listed_once_at_the_earlier() -> None:
    catalog = Catalog([offer("H100", 1, 3.0), offer("H200", 1, 4.0)])
    ranked = rank_offers(spec(["H100", "H200"]), catalog, multipliers=MODAL)
    assert [(r.offer.gpu_type, r.gpu_request_index) for r in ranked] == [
        ("H100", 0),
        ("H200", 0),
    ]


def test_falls_back_to_the_second_choice_when_the_first_has_no_offer_there() -> None:
    catalog = Catalog(
        [
            offer("H100", 8, 50.0, region="us-east-1"),
            offer("A100-80GB", 8, 30.0, region="eu-north-1"),
        ]
    )
    ranked = rank_offers(spec(["H100:8", "A100-80GB:8"], region="eu"), catalog, multipliers=MODAL)
    assert where(ranked) == [("aws", "eu-north-1", "A100-80GB")]
    assert ranked[0].gpu_request_index == 1
    assert "falls back to choice 2 (A100-80GB:8)" in explain(ranked)


def test_offers_of_one_choice_are_ordered_by_price() -> None:
    catalog = Catalog(
        [
            offer("L4", 1, 0.9, region="us-east-1"),
            offer("L4", 1, 0.7, provider="gcp", region="us-east4"),
            offer("L4", 1, 0.8, region="us-east-2"),
        ]
    )
    ranked = rank_offers(spec("L4"), catalog, multipliers=MODAL)
    assert [r.usd_per_hour for r in ranked] == [0.7, 0.8, 0.9]
    assert ranked[0].offer.provider == "gcp"


def test_whole_catalog_ranking_is_price_ordered_within_each_choice() -> None:
    ranked = rank_offers(spec(["H100:8", "A100-80GB:8"]), default_catalog(), multipliers=MODAL)
    for index in (0, 1):
        prices = [r.usd_per_hour for r in ranked if r.gpu_request_index == index]
        assert len(prices) > 3 and prices == sorted(prices)


def test_any_ranks_every_gpu_type_by_price() -> None:
    catalog = Catalog([offer("H100", 1, 3.0), offer("T4", 1, 0.5), offer("L4", 1, 0.8)])
    ranked = rank_offers(spec("any"), catalog, multipliers=MODAL)
    assert [r.offer.gpu_type for r in ranked] == ["T4", "L4", "H100"]
    assert [r.requested_gpu_type for r in ranked] == ["T4", "L4", "H100"]


def test_cpu_only_spec_is_placed_on_cpu_only_machines() -> None:
    catalog = Catalog([offer(None, 0, 0.4), offer("T4", 1, 0.3)])
    ranked = rank_offers(spec(), catalog, multipliers=MODAL)
    assert [(r.offer.gpu_type, r.requested_gpu_type) for r in ranked] == [(None, None)]


def test_limit_keeps_only_the_best() -> None:
    ranked = rank_offers(spec("T4"), default_catalog(), multipliers=MODAL)
    assert rank_offers(spec("T4"), default_catalog(), multipliers=MODAL, limit=3) == ranked[:3]
    with pytest.raises(InvalidError, match="limit must be at least 1"):
        rank_offers(spec("T4"), default_catalog(), limit=0)


# --- multipliers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, 1.0),
        ("us-east", 1.25),
        ("eu", 1.25),
        ("ap", 1.25),
        ("ca", 2.5),
        (["ca", "us-east"], 1.25),  # spans both zones: the smaller rate
    ],
)
def test_region_multiplier_follows_the_regions_the_function_is_pinned_to(
    region: str | list[str] | None, expected: float
) -> None:
    ranked = rank_offers(spec("H100:8", region=region), default_catalog(), multipliers=MODAL)
    for entry in ranked:
        assert entry.multiplier == expected
        assert entry.usd_per_hour == pytest.approx(entry.base_usd_per_hour * expected)


def test_nonpreemptible_pays_the_preemption_rate_on_top_of_the_region_rate() -> None:
    catalog = Catalog([offer(None, 0, 1.0, region="us-east-1")])
    ranked = rank_offers(spec(region="us-east", nonpreemptible=True), catalog, multipliers=MODAL)
    assert ranked[0].multiplier == pytest.approx(3.75)
    assert ranked[0].usd_per_hour == pytest.approx(3.75)


def test_operator_rates_from_config_toml_are_applied(config_dir: Path) -> None:
    (config_dir / "config.toml").write_text("[pricing.multipliers]\nregion_other = 1.5\n")
    catalog = Catalog([offer("H100", 8, 40.0, provider="oci", region="ca-toronto-1")])
    (ranked,) = rank_offers(spec("H100:8", region="ca"), catalog)
    assert (ranked.multiplier, ranked.usd_per_hour) == (1.5, 60.0)


# --- upgrades ----------------------------------------------------------------------------


def test_h100_request_landing_on_h200_is_billed_at_the_h100_price_there() -> None:
    catalog = Catalog(
        [
            offer("H100", 8, 50.0, region="us-east-1", instance="p5"),
            offer("H200", 8, 60.0, region="us-east-1", instance="p5en"),
            offer("H200", 8, 70.0, region="us-east-2", instance="p5en"),  # no H100 there
            offer("H100", 8, 45.0, provider="gcp", region="us-east4", instance="a3"),
        ]
    )
    ranked = rank_offers(spec("H100:8", region="us-east"), catalog, multipliers=MODAL)
    by_place = {(r.offer.region, r.offer.gpu_type): r for r in ranked}
    upgrade = by_place[("us-east-1", "H200")]
    assert upgrade.requested_gpu_type == "H100" and upgrade.is_upgrade
    assert upgrade.base_usd_per_hour == 50.0  # the H100 in us-east-1, not the 45 gcp one
    assert upgrade.usd_per_hour == pytest.approx(62.5)
    assert upgrade.machine_usd_per_hour == 60.0
    assert "H200 upgrade billed at the H100 price" in upgrade.reason
    lonely = by_place[("us-east-2", "H200")]
    assert lonely.base_usd_per_hour == 70.0  # nothing to compare with: its own price
    assert "no H100 machine there" in lonely.reason
    # Equal billed price: the exact type (the cheaper machine) goes first.
    assert where(ranked) == [
        ("gcp", "us-east4", "H100"),
        ("aws", "us-east-1", "H100"),
        ("aws", "us-east-1", "H200"),
        ("aws", "us-east-2", "H200"),
    ]


def test_an_upgrade_cheaper_than_the_requested_type_keeps_its_own_price() -> None:
    catalog = Catalog(
        [
            offer("H100", 8, 98.0, provider="azure", region="eastus2"),
            offer("H200", 8, 85.0, provider="azure", region="eastus2"),
        ]
    )
    ranked = rank_offers(spec("H100:8"), catalog, multipliers=MODAL)
    assert [(r.offer.gpu_type, r.base_usd_per_hour) for r in ranked] == [
        ("H200", 85.0),
        ("H100", 98.0),
    ]
    assert "below the H100 price there" in ranked[0].reason


def test_h100_bang_never_lands_on_h200() -> None:
    catalog = default_catalog()
    upgradable = rank_offers(spec("H100:8"), catalog, multipliers=MODAL)
    assert "H200" in {r.offer.gpu_type for r in upgradable}
    pinned = rank_offers(spec("H100!:8"), catalog, multipliers=MODAL)
    assert {r.offer.gpu_type for r in pinned} == {"H100"}
    assert len(pinned) == sum(1 for r in upgradable if r.offer.gpu_type == "H100")


def test_a100_upgrades_to_a100_80gb_but_a100_40gb_does_not() -> None:
    catalog = Catalog([offer("A100-40GB", 8, 30.0), offer("A100-80GB", 8, 40.0)])
    assert [r.offer.gpu_type for r in rank_offers(spec("A100:8"), catalog, multipliers=MODAL)] == [
        "A100-40GB",
        "A100-80GB",
    ]
    pinned = rank_offers(spec("A100-40GB:8"), catalog, multipliers=MODAL)
    assert [r.offer.gpu_type for r in pinned] == ["A100-40GB"]


# --- filters -----------------------------------------------------------------------------


def test_cpu_and_memory_floors_exclude_smaller_machines() -> None:
    catalog = Catalog(
        [
            offer("T4", 1, 0.5, vcpus=4, memory_gib=16),
            offer("T4", 1, 0.7, vcpus=8, memory_gib=32),
            offer("T4", 1, 0.9, vcpus=16, memory_gib=64),
        ]
    )
    assert [r.offer.vcpus for r in rank_offers(spec("T4", cpu=8), catalog, multipliers=MODAL)] == [
        8,
        16,
    ]
    by_memory = rank_offers(spec("T4", memory_mib=40_000), catalog, multipliers=MODAL)
    assert [r.offer.memory_gib for r in by_memory] == [64]
    exact = rank_offers(spec("T4", cpu=4, memory_mib=16 * 1024), catalog, multipliers=MODAL)
    assert [r.offer.vcpus for r in exact] == [4, 8, 16]  # a floor, not a strict bound


def test_cloud_restricts_offers_to_one_provider() -> None:
    ranked = rank_offers(spec("H100:8", cloud="gcp"), default_catalog(), multipliers=MODAL)
    assert ranked and {r.offer.provider for r in ranked} == {"gcp"}


def test_region_restricts_offers_to_the_resolved_regions() -> None:
    eu = {(r.provider, r.name) for r in resolve_regions("eu")}
    ranked = rank_offers(spec("H100:8", region="eu"), default_catalog(), multipliers=MODAL)
    assert ranked and all((r.offer.provider, r.offer.region) in eu for r in ranked)


def test_providers_argument_keeps_only_those_providers() -> None:
    ranked = rank_offers(
        spec("T4"), default_catalog(), multipliers=MODAL, providers=["aws", "azure"]
    )
    assert {r.offer.provider for r in ranked} == {"aws", "azure"}
    with pytest.raises(InvalidError, match="is offered on"):
        rank_offers(spec("T4", cloud="gcp"), default_catalog(), providers=["aws"])


def test_spot_ranks_by_spot_price_and_skips_offers_without_one() -> None:
    catalog = Catalog(
        [
            offer("L4", 1, 1.0, region="us-east-1", spot=0.6),
            offer("L4", 1, 0.8, region="us-east-2", spot=0.3),
            offer("L4", 1, 0.5, provider="oci", region="us-ashburn-1"),
        ]
    )
    ranked = rank_offers(spec("L4", spot=True), catalog, multipliers=MODAL)
    assert [(r.offer.region, r.base_usd_per_hour, r.spot) for r in ranked] == [
        ("us-east-2", 0.3, True),
        ("us-east-1", 0.6, True),
    ]
    on_demand = rank_offers(spec("L4"), catalog, multipliers=MODAL)
    assert [r.base_usd_per_hour for r in on_demand] == [0.5, 0.8, 1.0]


# --- failure rate ------------------------------------------------------------------------


def test_lower_failure_rate_breaks_a_price_tie_but_never_beats_a_lower_price() -> None:
    catalog = Catalog(
        [
            offer("H100", 8, 80.0, provider="oci", region="us-ashburn-1"),
            offer("H100", 8, 80.0, provider="oci", region="us-chicago-1"),
            offer("H100", 8, 90.0, provider="oci", region="us-phoenix-1"),
        ]
    )
    rates = {"us-ashburn-1": 0.4, "us-chicago-1": 0.1, "us-phoenix-1": 0.0}
    ranked = rank_offers(
        spec("H100:8"), catalog, multipliers=MODAL, failure_rate=lambda o: rates[o.region]
    )
    assert [r.offer.region for r in ranked] == ["us-chicago-1", "us-ashburn-1", "us-phoenix-1"]
    assert [r.failure_penalty for r in ranked] == [0.1, 0.4, 0.0]
    assert "lower recent failure rate (10% vs 40%)" in explain(ranked)
    without = rank_offers(spec("H100:8"), catalog, multipliers=MODAL)
    assert without[0].offer.region == "us-ashburn-1"  # alphabetical among equals


# --- errors ------------------------------------------------------------------------------


def test_too_many_vcpus_names_the_largest_machine_of_that_gpu() -> None:
    catalog = Catalog([offer("T4", 1, 0.5, vcpus=4), offer("T4", 1, 0.9, vcpus=8)])
    with pytest.raises(InvalidError) as caught:
        rank_offers(spec("T4", cpu=16), catalog, multipliers=MODAL)
    assert "no T4 offer has 16 vCPUs; the largest T4 machine has 8" in str(caught.value)


def test_too_much_memory_names_the_largest_memory() -> None:
    with pytest.raises(InvalidError, match=r"the largest has 262144 MiB \(256 GiB\)"):
        rank_offers(spec("T4", memory_mib=10**6), default_catalog(), multipliers=MODAL)


def test_a_gpu_count_no_machine_has_lists_the_counts_there_are() -> None:
    with pytest.raises(InvalidError, match="no offer has T4:3; the catalog's T4 machines have 1, "):
        rank_offers(spec("T4:3"), default_catalog(), multipliers=MODAL)


def test_a_gpu_missing_from_the_pinned_regions_says_where_it_is_offered() -> None:
    catalog = Catalog([offer("B200", 8, 110.0, region="us-east-1")])
    with pytest.raises(InvalidError) as caught:
        rank_offers(spec("B200:8", region="eu"), catalog, multipliers=MODAL)
    message = str(caught.value)
    assert "no B200:8 offer in " in message and "B200:8 is offered in aws:us-east-1" in message


def test_spot_without_spot_prices_says_on_demand_offers_exist() -> None:
    catalog = Catalog([offer("H100", 8, 80.0, provider="oci", region="us-ashburn-1")])
    with pytest.raises(InvalidError, match="has a spot price; 1 on-demand offers do"):
        rank_offers(spec("H100:8", spot=True), catalog, multipliers=MODAL)


def test_every_choice_of_a_fallback_list_is_explained_when_none_fits() -> None:
    catalog = Catalog([offer("T4", 1, 0.5, vcpus=8)])
    with pytest.raises(InvalidError) as caught:
        rank_offers(spec(["H100", "T4"], cpu=32), catalog, multipliers=MODAL)
    message = str(caught.value)
    assert message.startswith("no GPU choice can be placed: H100: ")
    assert "T4: no T4 offer has 32 vCPUs; the largest T4 machine has 8" in message


def test_spot_and_nonpreemptible_together_are_invalid() -> None:
    with pytest.raises(InvalidError, match="contradict"):
        PlacementSpec(spot=True, nonpreemptible=True)


# --- spec from options, explain ----------------------------------------------------------


def test_spec_from_validated_function_options() -> None:
    options = validate_options(
        "function",
        {
            "gpu": ["H100:2", "A100-80GB"],
            "cpu": 4,
            "memory": 32768,
            "region": "eu-west",
            "cloud": "gcp",
            "nonpreemptible": True,
        },
        {},
    )
    built = PlacementSpec.from_options(options)
    assert built.gpu == tuple(parse_gpu(["H100:2", "A100-80GB"]))
    assert (built.cpu, built.memory_mib, built.cloud) == (4.0, 32768, "gcp")
    assert built.regions == tuple(resolve_regions("eu-west", "gcp"))
    assert (built.spot, built.nonpreemptible) == (False, True)
    plain = PlacementSpec.from_options(validate_options("function", {"cloud": "auto"}, {}))
    assert plain == PlacementSpec()


def test_explain_names_the_winner_its_price_and_the_runner_up() -> None:
    catalog = Catalog(
        [
            offer("L4", 1, 0.8, region="us-east-1", instance="g6.xlarge"),
            offer("L4", 1, 1.0, provider="gcp", region="us-east4", instance="g2-standard-4"),
        ]
    )
    text = explain(rank_offers(spec("L4", region="us-east"), catalog, multipliers=MODAL))
    assert text.startswith("aws g6.xlarge (1x L4) in us-east-1 won: it is your first GPU choice")
    assert "$1.00/h ($0.80/h x 1.25 multiplier)" in text
    assert "gcp g2-standard-4 (1x L4) in us-east4, costs $1.25/h (+$0.25/h)" in text


def test_the_index_follows_the_catalog_it_was_built_for() -> None:
    cheap = Catalog([offer("L4", 1, 0.5)])
    dear = Catalog([offer("L4", 1, 5.0)])
    assert rank_offers(spec("L4"), cheap, multipliers=MODAL)[0].usd_per_hour == 0.5
    assert rank_offers(spec("L4"), dear, multipliers=MODAL)[0].usd_per_hour == 5.0
    assert rank_offers(spec("L4"), cheap, multipliers=MODAL)[0].usd_per_hour == 0.5


def test_ranked_offers_are_ordinary_frozen_dataclasses() -> None:
    (ranked,) = rank_offers(spec("L4"), Catalog([offer("L4", 1, 0.5)]), multipliers=MODAL)
    assert dataclasses.replace(ranked) == ranked and hash(ranked) == hash(
        dataclasses.replace(ranked)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        ranked.usd_per_hour = 0.0  # type: ignore[misc]
