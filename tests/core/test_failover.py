"""Placement failover through the public API: providers refusing capacity, running out of
options, budget caps, preemption. Test providers are the worked example plugin under other
names (they start real worker agents), so the function really runs where it lands."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import strato
from strato.exception import BudgetExceededError, NoOfferError
from strato.plugins.manager import default_providers
from strato.plugins.provider import ContainerHandle, InstanceState

PLUGIN_DIR = (
    Path(__file__).resolve().parents[2] / "examples" / "plugins" / "strato-example-provider"
)
sys.path.insert(0, str(PLUGIN_DIR))
from strato_example_provider.provider import TOKEN_VAR, ExampleProvider  # noqa: E402


class NamedProvider(ExampleProvider):
    """The example provider under another name and price."""

    def __init__(self, name: str, price: float) -> None:
        super().__init__()
        self.name = name
        self.price = price
        self.preempt: set[str] = set()
        self.provisioned: list[str] = []

    def list_offers(self, options: dict[str, Any]) -> list[Any]:
        from dataclasses import replace

        return [
            replace(o, provider=self.name, on_demand_usd_per_hour=self.price)
            for o in super().list_offers(options)
        ]

    def provision(self, spec: Any, offer: Any = None) -> ContainerHandle:
        handle = super().provision(spec, offer)
        self.provisioned.append(spec.container_id)
        return handle

    def status(self, handle: ContainerHandle) -> InstanceState:
        if handle.container_id in self.preempt:
            self.terminate(handle)
            return InstanceState.PREEMPTED
        return super().status(handle)


@pytest.fixture
def clouds(monkeypatch: pytest.MonkeyPatch, workdir: Path):
    """Two clouds with fresh names, so refusals remembered by other tests don't apply."""
    monkeypatch.setenv(TOKEN_VAR, "x")
    providers = default_providers()
    suffix = os.urandom(3).hex()
    cheap, dear = NamedProvider(f"cheap{suffix}", 1.0), NamedProvider(f"dear{suffix}", 5.0)
    providers.register(cheap)
    providers.register(dear)
    try:
        yield cheap, dear
    finally:
        providers.by_name.pop(cheap.name, None)
        providers.by_name.pop(dear.name, None)


def where() -> str:
    return os.environ["MODAL_CLOUD_PROVIDER"]


def test_a_capacity_refusal_fails_over_to_the_next_cloud_and_is_recorded(clouds):
    cheap, dear = clouds
    cheap.refusals.append("capacity")
    app = strato.App("failover")
    f = app.function(cloud="auto", serialized=True)(where)  # a CPU function on any cloud
    with app.run() as running:
        assert f.remote() == dear.name
        app_id = running.app_id
    from strato.cli._util import StateReader

    events = StateReader().events(app_id)
    kinds = [(e["provider"], e["kind"], e["error"]) for e in events]
    refused, launched = (cheap.name, "refused", "CapacityError"), (dear.name, "launched", None)
    assert refused in kinds and launched in kinds
    assert kinds.index(refused) < kinds.index(launched)


def test_the_cheapest_offer_wins_when_nobody_refuses(clouds):
    app = strato.App("cheapest")
    f = app.function(cloud="auto", serialized=True)(where)
    with app.run():
        assert f.remote() == clouds[0].name


def test_every_refusal_ends_in_no_offer_error_with_the_history(clouds):
    cheap, dear = clouds
    for provider in clouds:
        provider.refusals.extend(["capacity"] * 10)
    app = strato.App("nowhere")
    f = app.function(cloud="auto", serialized=True)(where)
    with app.run():
        with pytest.raises(NoOfferError) as info:
            f.remote()
    history = info.value.failover_history
    assert {h["provider"] for h in history} == {cheap.name, dear.name}
    assert all(h["outcome"] in ("refused", "skipped") for h in history)


def test_a_recent_refusal_is_remembered_and_skipped(clouds):
    cheap, dear = clouds
    cheap.refusals.append("quota")
    app = strato.App("memory")
    f = app.function(cloud="auto", serialized=True, scaledown_window=2)(where)
    with app.run():
        assert f.remote() == dear.name
    # a new app: the cheap cloud is skipped without being asked again
    asked_before = len(cheap.provisioned)
    app2 = strato.App("memory-2")
    g = app2.function(cloud="auto", serialized=True)(where)
    with app2.run():
        assert g.remote() == dear.name
    assert len(cheap.provisioned) == asked_before


def test_a_preempted_container_is_replaced_and_the_call_completes(clouds, workdir):
    cheap, dear = clouds

    def slow(seconds: float) -> str:
        import os
        import time

        time.sleep(seconds)
        return os.environ["STRATO_CONTAINER_ID"]

    app = strato.App("preempted")
    f = app.function(cloud="auto", serialized=True)(slow)
    with app.run() as running:
        call = f.spawn(6.0)
        deadline = time.monotonic() + 10
        while not cheap.provisioned and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        cheap.preempt.add(cheap.provisioned[0])  # the cloud takes the machine back
        finished_on = call.get(timeout=60)
        from strato.cli._util import StateReader

        events = StateReader().events(running.app_id)
    assert finished_on != cheap.provisioned[0]
    assert any(e["kind"] == "preempted" for e in events)


def test_a_budget_cap_refuses_the_launch_with_a_clear_error(clouds, tmp_path, monkeypatch):
    config = tmp_path / "config-budget"
    config.mkdir()
    (config / "config.toml").write_text('[budgets]\n"capped" = 0.5\n')
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(config))
    app = strato.App("capped")
    f = app.function(cloud="auto", serialized=True)(where)
    with app.run():
        with pytest.raises(BudgetExceededError, match=r"\$0\.50 budget"):
            f.remote()
