"""Whole programs placed on emulated clouds: failover across regions and across clouds,
with the attempts recorded by the control plane."""

from __future__ import annotations

import os
from typing import Any

import pytest
from support.aws_emulator import aws_emulator, aws_refuse  # noqa: F401
from support.booter import MachineBooter
from support.gcp_emulator import GCPEmulator

import strato
from strato.cli._util import StateReader
from strato.core.placement import PlacementSpec, rank_offers
from strato.plugins.manager import default_providers


def where_factory() -> Any:
    """A function reporting where it runs; nested, so it travels by value to a cloud machine
    (which has none of this repository's files)."""

    def where() -> dict[str, str | None]:
        import os

        return {
            "cloud": os.environ.get("MODAL_CLOUD_PROVIDER"),
            "region": os.environ.get("MODAL_REGION"),
        }

    return where


@pytest.fixture
def clouds(aws_emulator: Any):  # noqa: F811
    """AWS (moto) and GCP (fake Compute API) registered with the plane, machines booted."""
    from strato.plugins.gcp.provider import GCPProvider
    from strato.plugins.gcp.settings import GCPSettings

    with GCPEmulator() as gcp_emulator:
        providers = default_providers()
        aws = aws_emulator.provider()
        gcp = GCPProvider(
            GCPSettings(endpoint=gcp_emulator.url, project="strato-test", operation_timeout_s=20.0)
        )
        providers.register(aws)
        providers.register(gcp)
        booter = MachineBooter()
        providers.pm.register(booter)
        try:
            yield {"aws": aws, "gcp": gcp, "booter": booter, "gcp_emulator": gcp_emulator}
        finally:
            providers.pm.unregister(booter)
            booter.stop_all()
            providers.by_name.pop("aws", None)
            providers.by_name.pop("gcp", None)


def events_of(app_id: str) -> list[dict[str, Any]]:
    return StateReader().events(app_id)


def test_every_aws_region_but_one_out_of_capacity(clouds, aws_emulator, aws_refuse):  # noqa: F811
    spec = PlacementSpec.from_options({"gpu": ["A10"], "cloud": "aws"})
    regions = [r.offer.region for r in rank_offers(spec, providers=["aws"])]
    ordered = list(dict.fromkeys(regions))
    assert len(ordered) >= 3, "the catalog should offer A10 machines in several AWS regions"
    survivor = ordered[2]  # two regions refuse before placement reaches it
    aws_refuse("capacity", except_region=survivor)

    app = strato.App("aws-capacity-failover")
    f = app.function(gpu="A10", cloud="aws", timeout=120)(where_factory())
    with app.run() as running:
        result = f.remote()
        events = events_of(running.app_id)
    assert result == {"cloud": "aws", "region": survivor}
    refused = [e for e in events if e["kind"] == "refused"]
    launched = [e for e in events if e["kind"] == "launched"]
    assert [e["region"] for e in launched] == [survivor]
    assert {e["region"] for e in refused} >= set(ordered[:2])
    assert all(e["error"] == "CapacityError" and e["provider"] == "aws" for e in refused)
    assert events.index(refused[-1]) < events.index(launched[0])


def test_a_gpu_fallback_list_lands_on_the_next_cloud_when_one_refuses(clouds, aws_refuse):  # noqa: F811
    spec = PlacementSpec.from_options({"gpu": ["H100", "A100-80GB"], "cloud": "auto"})
    ranked = rank_offers(spec, providers=["aws", "gcp"])
    first = ranked[0].offer.provider
    other = "gcp" if first == "aws" else "aws"
    if first == "aws":
        aws_refuse("capacity")
    else:
        clouds["gcp_emulator"].refuse("capacity")

    app = strato.App("cross-cloud-failover")
    f = app.function(gpu=["H100", "A100-80GB"], cloud="auto", timeout=120)(where_factory())
    with app.run() as running:
        result = f.remote()
        events = events_of(running.app_id)
    assert result["cloud"] == other
    refused = [e for e in events if e["kind"] == "refused"]
    assert refused and all(e["provider"] == first for e in refused)
    assert [e["provider"] for e in events if e["kind"] == "launched"] == [other]


def test_nothing_left_fails_the_call_with_the_whole_history(clouds, aws_refuse):  # noqa: F811
    aws_refuse("quota")
    app = strato.App("no-capacity-anywhere")
    f = app.function(gpu="A10", cloud="aws", timeout=120)(where_factory())
    with app.run():
        with pytest.raises(strato.exception.NoOfferError) as info:
            f.remote()
    history = info.value.failover_history
    assert history and all(h["provider"] == "aws" for h in history)
    assert any(h["error"] == "QuotaError" for h in history)
    assert os.environ.get("STRATO_SERVER_URL") is None  # the embedded plane did all this
