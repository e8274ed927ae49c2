"""``strato price`` through the real ``strato`` Typer app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strato.cli.main import app
from strato.core.placement import PlacementSpec, rank_offers
from strato.pricing.catalog import default_catalog
from strato.pricing.gpu import parse_gpu
from strato.pricing.multipliers import Multipliers
from strato.regions import resolve_regions

runner = CliRunner()
HEADERS = ["#", "PROVIDER", "REGION", "INSTANCE", "GPUS", "$/H BASE", "MULT", "$/H TOTAL"]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    return tmp_path


def table(output: str) -> tuple[list[dict[str, str]], list[str]]:
    """The quoted rows (by header) and the lines after the table; cells are 2+ spaces apart."""
    lines = output.strip().splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == HEADERS
    end = lines.index("")
    rows = [
        dict(zip(HEADERS, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[1:end]
    ]
    return rows, lines[end + 1 :]


def test_price_quotes_h100s_in_eu_with_the_region_multiplier() -> None:
    result = runner.invoke(app, ["price", "--gpu", "H100:8", "--region", "eu"])
    assert result.exit_code == 0, result.output
    rows, after = table(result.output)
    expected = rank_offers(
        PlacementSpec(gpu=tuple(parse_gpu("H100:8")), regions=tuple(resolve_regions("eu"))),
        default_catalog(),
        multipliers=Multipliers(),
    )
    assert len(rows) == 5 < len(expected)
    eu = {r.name for r in resolve_regions("eu")}
    for row, entry in zip(rows, expected, strict=False):
        assert (row["PROVIDER"], row["REGION"], row["INSTANCE"]) == (
            entry.offer.provider,
            entry.offer.region,
            entry.offer.instance_type,
        )
        assert row["REGION"] in eu
        assert row["MULT"] == "1.25x"
        assert float(row["$/H TOTAL"]) == pytest.approx(float(row["$/H BASE"]) * 1.25, abs=0.01)
        assert float(row["$/H TOTAL"]) == pytest.approx(entry.usd_per_hour, abs=0.005)
    assert [row["#"] for row in rows] == ["1", "2", "3", "4", "5"]
    totals = [float(row["$/H TOTAL"]) for row in rows]
    assert totals == sorted(totals)
    assert after[0] == f"5 of {len(expected)} offers, on-demand list prices, USD per hour."
    first = expected[0].offer
    assert after[1].startswith(f"{first.provider} {first.instance_type} (8x {first.gpu_type}) ")
    assert "won: it is your first GPU choice (H100:8)" in after[1]


def test_price_marks_an_upgrade_with_the_type_it_is_billed_as() -> None:
    result = runner.invoke(app, ["price", "--gpu", "H100:8", "--region", "eu", "--limit", "20"])
    rows, _ = table(result.output)
    upgrades = [row for row in rows if row["GPUS"] == "8x H200 (as H100)"]
    assert upgrades and {row["GPUS"] for row in rows} == {"8x H100", "8x H200 (as H100)"}


def test_price_cloud_limit_and_fallback_list() -> None:
    result = runner.invoke(
        app, ["price", "--gpu", "B200:8,A100-80GB:8", "--region", "eu", "--cloud", "aws"]
    )
    assert result.exit_code == 0, result.output
    rows, after = table(result.output)
    assert rows and {row["PROVIDER"] for row in rows} == {"aws"}
    assert {row["GPUS"] for row in rows} == {"8x A100-80GB"}  # aws has no B200 in eu
    assert "falls back to choice 2 (A100-80GB:8)" in after[1]
    limited = runner.invoke(app, ["price", "--gpu", "T4", "--limit", "2"])
    assert len(table(limited.output)[0]) == 2


def test_price_spot_quotes_spot_prices() -> None:
    result = runner.invoke(app, ["price", "--gpu", "H100:8", "--cloud", "aws", "--spot"])
    assert result.exit_code == 0, result.output
    rows, after = table(result.output)
    assert after[0].endswith("spot list prices, USD per hour.")
    spot = {
        (o.region, o.instance_type): o.spot_usd_per_hour
        for o in default_catalog().offers(provider="aws", gpu_count=8)
    }
    first = rows[0]
    assert first["MULT"] == "1x"
    # Upgrades are billed at most at their own spot price.
    assert float(first["$/H BASE"]) <= spot[(first["REGION"], first["INSTANCE"])] + 0.005


def test_price_cpu_and_memory_floors_apply() -> None:
    result = runner.invoke(app, ["price", "--gpu", "T4", "--cpu", "32", "--memory", "131072"])
    assert result.exit_code == 0, result.output
    rows, _ = table(result.output)
    machines = {
        (o.provider, o.region, o.instance_type): o
        for o in default_catalog().offers(gpu_type="T4", gpu_count=1)
    }
    for row in rows:
        machine = machines[(row["PROVIDER"], row["REGION"], row["INSTANCE"])]
        assert machine.vcpus >= 32 and machine.memory_gib >= 128


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (
            ["--gpu", "T4", "--cpu", "128"],
            "Error: no T4 offer has 128 vCPUs; the largest T4 machine",
        ),
        (["--gpu", "H100:8", "--region", "eu-nort"], "Error: region='eu-nort' is not a known"),
        (["--gpu", "H1000"], "Error: gpu[0]='H1000' is not a known GPU type"),
        (["--gpu", "T4", "--spot", "--nonpreemptible"], "Error: spot=True and nonpreemptible"),
    ],
)
def test_price_user_errors_print_one_line_and_exit_2(args: list[str], start: str) -> None:
    result = runner.invoke(app, ["price", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), result.output
    assert "Traceback" not in result.output
