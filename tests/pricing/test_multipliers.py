"""Modal's region and preemption multipliers, and the operator's overrides of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from strato.exception import InvalidError
from strato.pricing.multipliers import Multipliers


def test_defaults_are_modals_numbers() -> None:
    rates = Multipliers()
    assert (rates.region_us_eu_ap, rates.region_other) == (1.25, 2.5)
    assert (rates.nonpreemptible, rates.preemptible) == (3.0, 1.0)


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        (None, 1.0),
        (set(), 1.0),
        ({"US"}, 1.25),
        ({"EU", "AP"}, 1.25),
        ({"other"}, 2.5),
        ({"US", "other"}, 1.25),  # spans both categories: the smaller multiplier
        ({"ap", "OTHER"}, 1.25),
    ],
)
def test_region_multiplier(zones: set[str] | None, expected: float) -> None:
    assert Multipliers().region_multiplier(zones) == expected


def test_mixed_zones_pay_the_smaller_rate_even_when_the_operator_inverts_them() -> None:
    rates = Multipliers(region_us_eu_ap=2.0, region_other=1.5)
    assert rates.region_multiplier({"US", "other"}) == 1.5
    assert rates.region_multiplier({"US"}) == 2.0


def test_an_unknown_pricing_zone_is_an_error() -> None:
    with pytest.raises(InvalidError, match="unknown pricing zone 'Mars'; valid zones: AP, EU"):
        Multipliers().region_multiplier({"Mars"})


def test_preemption_multiplier_and_total() -> None:
    rates = Multipliers()
    assert rates.preemption_multiplier(nonpreemptible=True) == 3.0
    assert rates.preemption_multiplier(nonpreemptible=False) == 1.0
    assert rates.total({"other"}, nonpreemptible=True) == 7.5
    assert rates.total({"EU"}) == 1.25
    assert rates.total() == 1.0


def test_operator_overrides_rates_in_config_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config.toml").write_text(
        "[pricing.multipliers]\nregion_us_eu_ap = 1\nnonpreemptible = 1.5\n"
    )
    rates = Multipliers.from_settings()
    assert rates == Multipliers(region_us_eu_ap=1.0, region_other=2.5, nonpreemptible=1.5)
    assert rates.total({"US"}, nonpreemptible=True) == 1.5
    assert rates.total({"other"}, nonpreemptible=True) == 3.75


def test_no_config_file_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    assert Multipliers.from_settings() == Multipliers()
    assert Multipliers.from_settings({"server": {"port": 1}}) == Multipliers()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"region_eu": 1.0}, "unknown key pricing.multipliers.region_eu; valid keys: region_us_eu"),
        ({"region_other": "2x"}, "pricing.multipliers.region_other must be a number, got '2x'"),
        ({"preemptible": -1}, "pricing.multipliers.preemptible must be at least 0, got -1"),
        ({"nonpreemptible": True}, "nonpreemptible must be a number, got True"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidError, match=message.replace("(", r"\(")):
        Multipliers.from_settings({"pricing": {"multipliers": table}})
