"""``strato regions list`` through the real CLI app."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from strato.cli.main import app

runner = CliRunner()


def rows(output: str) -> list[list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split() == ["PROVIDER", "REGION", "CITY", "COUNTRY", "ZONE", "BROAD"]
    return [line.split() for line in lines[1:]]


def test_list_aws_us_east_shows_only_us_east_1_and_2() -> None:
    result = runner.invoke(app, ["regions", "list", "--cloud", "aws", "--broad", "us-east"])
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert [row[:2] for row in table] == [["aws", "us-east-1"], ["aws", "us-east-2"]]
    assert table[0][-1] == "us,us-east"
    assert table[0][-2] == "US"


def test_list_without_options_shows_every_provider() -> None:
    result = runner.invoke(app, ["regions", "list"])
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert {row[0] for row in table} == {"aws", "gcp", "azure", "oci"}
    assert ["azure", "southafricanorth", "Johannesburg", "ZA", "other", "af"] in table


def test_repeated_broad_is_a_union() -> None:
    result = runner.invoke(
        app, ["regions", "list", "--cloud", "oci", "--broad", "au", "--broad", "ca"]
    )
    assert result.exit_code == 0, result.output
    assert [row[1] for row in rows(result.output)] == [
        "ap-melbourne-1",
        "ap-sydney-1",
        "ca-toronto-1",
    ]


def test_local_cloud_lists_no_regions() -> None:
    result = runner.invoke(app, ["regions", "list", "--cloud", "local"])
    assert result.exit_code == 0
    assert "No regions" in result.output
    assert "us-east-1" not in result.output


def test_bad_cloud_prints_one_line_and_exits_2() -> None:
    result = runner.invoke(app, ["regions", "list", "--cloud", "awss"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cloud='awss'") and "did you mean 'aws'" in lines[0]
    assert "Traceback" not in result.output


def test_region_the_cloud_lacks_prints_one_line_and_exits_2() -> None:
    result = runner.invoke(app, ["regions", "list", "--cloud", "oci", "--broad", "eu-north"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: cloud='oci' has no broad region 'eu-north' (region='eu-north'); "
        "clouds that do: aws, azure"
    ]


def test_cli_module_imports_no_strato_module_at_import() -> None:
    code = (
        "import sys, strato; before = set(sys.modules); import strato.cli.regions; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('strato.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['strato.cli', 'strato.cli.regions']"
