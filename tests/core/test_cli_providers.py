"""`strato providers list/check` and `strato app events`, through the CLI."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strato.cli.main import app as cli
from strato.plugins import hookspecs
from strato.plugins.manager import default_providers

PLUGIN_DIR = (
    Path(__file__).resolve().parents[2] / "examples" / "plugins" / "strato-example-provider"
)
sys.path.insert(0, str(PLUGIN_DIR))
from strato_example_provider.provider import TOKEN_VAR, ExampleProvider  # noqa: E402

runner = CliRunner()


@pytest.fixture
def example():
    providers = default_providers()
    provider = ExampleProvider()
    providers.register(provider)
    try:
        yield provider
    finally:
        providers.by_name.pop("example", None)


def test_list_shows_each_provider_and_whether_credentials_were_found(example, monkeypatch):
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    result = runner.invoke(cli, ["providers", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:] if line.strip()}
    assert lines["local"].split()[3] == "yes"
    assert lines["example"].split()[3] == "no"
    assert "STRATO_EXAMPLE_TOKEN is not set" in lines["example"]


def test_check_names_the_variables_to_set_and_fails(example, monkeypatch):
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    result = runner.invoke(cli, ["providers", "check", "example"])
    assert result.exit_code == 1
    assert "example: FAILED" in result.output
    assert f"set: {TOKEN_VAR}" in result.output


def test_check_passes_with_credentials(example, monkeypatch):
    monkeypatch.setenv(TOKEN_VAR, "x")
    result = runner.invoke(cli, ["providers", "check", "example"])
    assert result.exit_code == 0 and "example: ok" in result.output


def test_check_of_an_unknown_provider_is_one_line(example):
    result = runner.invoke(cli, ["providers", "check", "nope"])
    assert result.exit_code == 2
    assert "no provider named 'nope'" in result.output and "Traceback" not in result.output


def test_app_events_lists_every_attempt(example, monkeypatch, workdir):
    import strato

    monkeypatch.setenv(TOKEN_VAR, "x")
    example.refusals.extend(
        ["server_error"] * 3
    )  # retried twice, then failed over... to nothing else

    def hello() -> str:
        return "hi"

    app = strato.App("events-cli")
    f = app.function(cloud="example")(hello)
    with app.run():
        with pytest.raises(strato.exception.NoOfferError):
            f.remote()
        example.refusals.clear()
        assert f.remote() == "hi"
    result = runner.invoke(cli, ["app", "events", "events-cli"])
    assert result.exit_code == 0, result.output
    assert "refused" in result.output and "ProviderUnavailableError" in result.output
    assert "launched" in result.output and "example-1" in result.output


def test_a_provider_api_failing_briefly_is_retried_before_failing_over(
    example, monkeypatch, workdir
):
    import strato

    monkeypatch.setenv(TOKEN_VAR, "x")
    example.refusals.extend(["server_error", "server_error"])  # two 5xx, then it answers

    def hello() -> str:
        return "hi"

    app = strato.App("retried")
    f = app.function(cloud="example")(hello)
    with app.run():
        assert f.remote() == "hi"
    assert example.refusals == []


def test_every_hook_is_documented():
    specs = [getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("strato_")]
    assert specs
    for spec in specs:
        doc = inspect.getdoc(spec) or ""
        assert len(doc) > 40, f"{spec.__name__} needs a docstring: it is the hook's reference"


def test_local_launches_are_events_too(workdir):
    import strato

    def hello() -> str:
        return "hi"

    app = strato.App("local-events")
    f = app.function(serialized=True)(hello)
    with app.run():
        assert f.remote() == "hi"
    result = runner.invoke(cli, ["app", "events", "local-events"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[2:] if line.strip()]
    assert any(row[2:4] == ["launched", "local"] for row in rows), result.output
