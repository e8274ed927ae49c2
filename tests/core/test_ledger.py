"""The cost ledger: what a container costs, and how costs are totalled for reports."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import pytest

from strato.core.ledger import (
    AGGREGATE_BY,
    NO_VALUE,
    LocalRates,
    aggregate,
    container_cost,
    daily_breakdown,
    parse_since,
    summarize,
)
from strato.exception import InvalidError

RATES = LocalRates(cpu_core_hour=0.5, memory_gib_hour=0.25, gpu_hour=4.0)
#: 2024-05-01 00:00 UTC
MAY_1 = float(calendar.timegm((2024, 5, 1, 0, 0, 0)))
HOUR = 3600.0


def local(**values: Any) -> dict[str, Any]:
    """A stopped local container, one hour long, reserving 2 cores and 1 GiB."""
    row = {
        "id": "c-local",
        "app_id": "ap-1",
        "app_name": "alpha",
        "function_name": "train",
        "provider": "local",
        "region": None,
        "gpu": None,
        "gpu_count": 0,
        "cpu_request": 2.0,
        "memory_request_mib": 1024,
        "cpu_seconds": 0.0,
        "peak_memory_mib": 100.0,
        "usd_per_hour": 0.0,
        "multiplier": 1.0,
        "started_at": MAY_1,
        "stopped_at": MAY_1 + HOUR,
    }
    row.update(values)
    return row


def cloud(**values: Any) -> dict[str, Any]:
    """A stopped AWS container on 2 H100s at $10/h, 1.25x, half an hour long."""
    row = local(
        id="c-cloud",
        app_id="ap-2",
        app_name="beta",
        function_name="serve",
        provider="aws",
        region="us-east-1",
        gpu="H100:2",
        gpu_count=2,
        usd_per_hour=10.0,
        multiplier=1.25,
        stopped_at=MAY_1 + HOUR / 2,
    )
    row.update(values)
    return row


# -- container_cost ----------------------------------------------------------------------------


def test_local_cost_uses_the_rates_in_config_toml(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "config.toml").write_text(
        "[pricing.local]\ncpu_core_hour = 0.04\nmemory_gib_hour = 0.005\ngpu_hour = 1.5\n"
    )
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    row = local(gpu_count=1, stopped_at=MAY_1 + 2 * HOUR)
    # 2 hours of 2 cores at 0.04, 1 GiB at 0.005 and 1 GPU at 1.5
    assert container_cost(row, now=0) == pytest.approx(2 * (2 * 0.04 + 0.005 + 1.5))


def test_local_cost_is_zero_without_rates() -> None:
    assert container_cost(local(gpu_count=4), now=0, rates=LocalRates()) == 0.0


def test_local_cpu_and_memory_are_billed_on_the_max_of_reservation_and_usage() -> None:
    reserved = container_cost(local(), now=0, rates=RATES)
    assert reserved == pytest.approx(2 * 0.5 + 1 * 0.25)  # used less than it reserved
    busy = local(cpu_seconds=3 * HOUR, peak_memory_mib=4096.0)  # 3 cores, 4 GiB on average
    assert container_cost(busy, now=0, rates=RATES) == pytest.approx(3 * 0.5 + 4 * 0.25)


def test_local_gpus_are_billed_for_the_whole_life_however_idle() -> None:
    idle = local(gpu_count=2, cpu_seconds=0.0, stopped_at=MAY_1 + 30 * 60)
    assert container_cost(idle, now=0, rates=RATES) == pytest.approx(
        0.5 * (2 * 0.5 + 0.25 + 2 * 4.0)
    )


def test_multiplier_scales_a_local_container() -> None:
    assert container_cost(local(multiplier=3.0), now=0, rates=RATES) == pytest.approx(3 * 1.25)


def test_missing_reservation_falls_back_to_modals_defaults() -> None:
    row = local(cpu_request=None, memory_request_mib=None, cpu_seconds=None, peak_memory_mib=None)
    assert container_cost(row, now=0, rates=RATES) == pytest.approx(0.125 * 0.5 + 0.125 * 0.25)


def test_cloud_machine_is_billed_whole_at_its_price_times_multiplier() -> None:
    row = cloud(cpu_seconds=1.0, peak_memory_mib=1.0)  # usage does not matter
    assert container_cost(row, now=0, rates=RATES) == pytest.approx(0.5 * 10.0 * 1.25)


def test_running_container_accrues_per_second_until_now() -> None:
    row = cloud(stopped_at=None)
    assert container_cost(row, now=MAY_1 + 90, rates=RATES) == pytest.approx(90 / HOUR * 12.5)
    assert container_cost(row, now=MAY_1 + 91, rates=RATES) > container_cost(
        row, now=MAY_1 + 90, rates=RATES
    )


def test_a_container_that_stopped_before_it_started_costs_nothing() -> None:
    assert container_cost(cloud(stopped_at=MAY_1 - 60), now=0, rates=RATES) == 0.0
    assert container_cost(cloud(stopped_at=None), now=MAY_1 - 60, rates=RATES) == 0.0


# -- aggregate ---------------------------------------------------------------------------------


def fleet() -> list[dict[str, Any]]:
    """Two local containers of alpha (one on a GPU), one AWS container of beta."""
    return [
        local(id="a1"),  # 1.25
        local(id="a2", function_name="eval", gpu="RTX4090", gpu_count=1),  # 5.25
        cloud(id="b1"),  # 6.25
    ]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("app", [("beta", 6.25, 1), ("alpha", 6.5, 2)]),
        ("function", [("alpha/eval", 5.25, 1), ("beta/serve", 6.25, 1), ("alpha/train", 1.25, 1)]),
        ("provider", [("aws", 6.25, 1), ("local", 6.5, 2)]),
        ("region", [("us-east-1", 6.25, 1), (NO_VALUE, 6.5, 2)]),
        ("gpu", [("H100:2", 6.25, 1), ("RTX4090", 5.25, 1), (NO_VALUE, 1.25, 1)]),
        ("day", [("2024-05-01", 12.75, 3)]),
    ],
)
def test_aggregate_groups_costs_by_each_dimension(
    by: str, expected: list[tuple[str, float, int]]
) -> None:
    rows = aggregate(fleet(), by, now=MAY_1 + 10 * HOUR, rates=RATES)
    got = {r["key"]: (r["cost_usd"], r["containers"]) for r in rows}
    assert got == {key: (pytest.approx(cost), n) for key, cost, n in expected}
    if by != "day":
        assert [r["cost_usd"] for r in rows] == sorted((r["cost_usd"] for r in rows), reverse=True)
    assert set(rows[0]) == {"key", "cost_usd", "container_seconds", "containers", "gpu_seconds"}


def test_aggregate_counts_container_and_gpu_seconds() -> None:
    rows = {r["key"]: r for r in aggregate(fleet(), "app", now=0, rates=RATES)}
    assert rows["alpha"]["container_seconds"] == pytest.approx(2 * HOUR)
    assert rows["alpha"]["gpu_seconds"] == pytest.approx(HOUR)
    assert rows["beta"]["container_seconds"] == pytest.approx(HOUR / 2)
    assert rows["beta"]["gpu_seconds"] == pytest.approx(HOUR)  # 2 GPUs for half an hour


def test_aggregate_rejects_an_unknown_dimension_naming_the_choices() -> None:
    with pytest.raises(InvalidError) as error:
        aggregate(fleet(), "color", now=0, rates=RATES)
    assert "color" in str(error.value)
    assert all(choice in str(error.value) for choice in AGGREGATE_BY)
    with pytest.raises(InvalidError):
        daily_breakdown(fleet(), "color", now=0, rates=RATES)


def test_day_splits_a_container_across_midnight_by_seconds() -> None:
    row = cloud(started_at=MAY_1 - HOUR, stopped_at=MAY_1 + 2 * HOUR)  # 23:00 to 02:00
    days = aggregate([row], "day", now=0, rates=RATES)
    assert [d["key"] for d in days] == ["2024-04-30", "2024-05-01"]
    assert [d["cost_usd"] for d in days] == [pytest.approx(12.5), pytest.approx(25.0)]
    assert [d["container_seconds"] for d in days] == [pytest.approx(HOUR), pytest.approx(7200)]
    assert [d["containers"] for d in days] == [1, 1]
    assert sum(d["cost_usd"] for d in days) == pytest.approx(container_cost(row, 0, RATES))


def test_since_counts_only_the_part_of_a_life_after_it() -> None:
    row = cloud(started_at=MAY_1 - HOUR, stopped_at=MAY_1 + 2 * HOUR)
    early = cloud(id="early", started_at=MAY_1 - 5 * HOUR, stopped_at=MAY_1 - 4 * HOUR)
    since = MAY_1 + HOUR  # 01:00
    days = aggregate([row, early], "day", now=0, rates=RATES, since=since)
    assert [(d["key"], d["container_seconds"]) for d in days] == [("2024-05-01", HOUR)]
    (app,) = aggregate([row, early], "app", now=0, rates=RATES, since=since)
    assert app["cost_usd"] == pytest.approx(12.5)
    assert app["containers"] == 1  # the one that stopped before since is left out
    assert summarize([row, early], now=0, rates=RATES, since=since) == {
        "cost_usd": pytest.approx(12.5),
        "container_seconds": pytest.approx(HOUR),
        "containers": 1,
        "gpu_seconds": pytest.approx(2 * HOUR),
    }


def test_since_keeps_the_usage_rate_of_the_whole_life() -> None:
    # 4 core-hours over 2 hours: 2 cores on average, above the 1 reserved
    row = local(cpu_request=1.0, cpu_seconds=4 * HOUR, stopped_at=MAY_1 + 2 * HOUR)
    (clipped,) = aggregate([row], "app", now=0, rates=RATES, since=MAY_1 + HOUR)
    assert clipped["cost_usd"] == pytest.approx(container_cost(row, 0, RATES) / 2)


def test_summarize_counts_a_container_once_across_days() -> None:
    row = cloud(started_at=MAY_1 - HOUR, stopped_at=MAY_1 + HOUR)
    total = summarize([row, local()], now=0, rates=RATES)
    assert total["containers"] == 2
    assert total["cost_usd"] == pytest.approx(25.0 + 1.25)


# -- daily_breakdown ---------------------------------------------------------------------------


def test_daily_breakdown_stacks_each_key_per_day_with_empty_days_filled() -> None:
    rows = [
        local(id="a1"),
        cloud(id="b1", started_at=MAY_1 + 2 * 86400, stopped_at=MAY_1 + 2 * 86400 + HOUR),
    ]
    days, series = daily_breakdown(rows, "app", now=0, rates=RATES)
    assert days == ["2024-05-01", "2024-05-02", "2024-05-03"]
    assert list(series) == ["beta", "alpha"]  # the most expensive first
    assert series["beta"] == [0.0, 0.0, pytest.approx(12.5)]
    assert series["alpha"] == [pytest.approx(1.25), 0.0, 0.0]


def test_daily_breakdown_by_day_stacks_by_provider() -> None:
    days, series = daily_breakdown(fleet(), "day", now=0, rates=RATES)
    assert days == ["2024-05-01"]
    assert series == {"local": [pytest.approx(6.5)], "aws": [pytest.approx(6.25)]}


def test_daily_breakdown_with_since_runs_from_that_day_to_today() -> None:
    now = MAY_1 + 3 * 86400 + HOUR
    days, series = daily_breakdown([local()], "provider", now=now, rates=RATES, since=MAY_1 - 86400)
    assert days == ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]
    assert series["local"] == [0.0, pytest.approx(1.25), 0.0, 0.0, 0.0]
    assert daily_breakdown([], "app", now=now) == ([], {})


# -- parse_since -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("30m", 1800), ("12h", 43200), ("7d", 7 * 86400), ("2w", 14 * 86400), ("1.5h", 5400)],
)
def test_parse_since_reads_durations_before_now(text: str, seconds_ago: float) -> None:
    assert parse_since(text, now=MAY_1) == MAY_1 - seconds_ago


def test_parse_since_reads_iso_dates_as_utc() -> None:
    assert parse_since("2024-05-01") == MAY_1
    assert parse_since("2024-05-01T06:30") == MAY_1 + 6.5 * HOUR
    assert parse_since("2024-05-01T02:00+02:00") == MAY_1


@pytest.mark.parametrize("text", ["yesterday", "-3d", "d", "", "7x", "2024-13-01", "nand"])
def test_parse_since_rejects_anything_else_with_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidError) as error:
        parse_since(text)
    assert repr(text) in str(error.value)
    assert "7d" in str(error.value) and "ISO date" in str(error.value)
