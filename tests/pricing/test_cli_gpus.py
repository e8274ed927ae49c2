"""``strato gpus list`` through the real ``strato`` Typer app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from strato.cli.main import app
from strato.pricing.catalog import default_catalog

GPU_TYPES = ["T4", "L4", "A10", "A100-40GB", "A100-80GB", "L40S", "H100", "H200", "B200"]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    return tmp_path


def _rows(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split() == [
        "GPU",
        "MEMORY",
        "PROVIDER",
        "INSTANCE",
        "GPUS",
        "REGION",
        "$/GPU-H",
    ]
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_gpus_list_shows_every_gpu_type_with_memory_and_cheapest_offer() -> None:
    result = CliRunner().invoke(app, ["gpus", "list"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert list(rows) == GPU_TYPES
    assert rows["H100"][1:3] == ["80", "GiB"]
    assert rows["B200"][1:3] == ["180", "GiB"]
    catalog = default_catalog()
    for name in GPU_TYPES:
        cheapest = min(o.usd_per_gpu_hour() for o in catalog.offers(gpu_type=name))
        provider, instance, gpus, region, price = rows[name][3:]
        (offer,) = [
            o
            for o in catalog.offers(provider=provider, gpu_type=name, region=region)
            if o.instance_type == instance and o.gpu_count == int(gpus)
        ]
        assert float(price) == pytest.approx(cheapest, abs=5e-5)
        assert offer.usd_per_gpu_hour() == pytest.approx(cheapest)


def test_gpus_list_reflects_the_operators_negotiated_prices(config_dir: Path) -> None:
    (config_dir / "price-overrides.toml").write_text(
        '[[azure.rows]]\ninstance_type = "Standard_ND96isr_H100_v5"\nregion = "eastus"\n'
        "usd_per_hour = 8.0\n"
    )
    result = CliRunner().invoke(app, ["gpus", "list"])
    assert result.exit_code == 0, result.output
    assert _rows(result.output)["H100"][3:] == [
        "azure", "Standard_ND96isr_H100_v5", "8", "eastus", "1.0000",
    ]  # fmt: skip


def test_gpus_list_for_one_cloud_and_spot() -> None:
    result = CliRunner().invoke(app, ["gpus", "list", "--cloud", "oci", "--spot"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert all(row[3:] == ["-"] * 5 for row in rows.values())  # OCI lists no spot prices

    result = CliRunner().invoke(app, ["gpus", "list", "--cloud", "gcp"])
    rows = _rows(result.output)
    assert {row[3] for name, row in rows.items() if name in ("L4", "H100", "T4")} == {"gcp"}


def test_gpus_list_rejects_an_unknown_cloud() -> None:
    result = CliRunner().invoke(app, ["gpus", "list", "--cloud", "mars"])
    assert result.exit_code == 2
    assert "no prices for cloud 'mars'; known clouds: aws, azure, gcp, oci" in result.output
