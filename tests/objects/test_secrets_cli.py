"""``strato secret create/list/delete``, and what a function then sees."""

from __future__ import annotations

import json
import os
import uuid

from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli

NAME = f"cli-secret-{uuid.uuid4().hex[:8]}"
VALUE = f"cli-value-{uuid.uuid4().hex}"

app = strato.App("secrets-cli-test")


@app.function(secrets=[strato.Secret.from_name(NAME)])
def read_env() -> dict:
    return {"USER_NAME": os.environ.get("USER_NAME"), "HAS_PASSWORD": "PASSWORD" in os.environ}


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_create_list_use_and_delete(workdir):
    created = _run("secret", "create", NAME, "USER_NAME=admin", f"PASSWORD={VALUE}", "EQ=a=b")
    assert created.exit_code == 0, created.output
    assert "EQ, PASSWORD, USER_NAME" in created.output and VALUE not in created.output

    listed = _run("secret", "list")
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if row.startswith(NAME))
    assert "EQ, PASSWORD, USER_NAME" in line
    assert VALUE not in listed.output and "admin" not in listed.output

    as_json = json.loads(_run("secret", "list", "--json").output)
    assert next(s for s in as_json if s["name"] == NAME)["keys"] == ["EQ", "PASSWORD", "USER_NAME"]

    with app.run():
        assert read_env.remote() == {"USER_NAME": "admin", "HAS_PASSWORD": True}

    deleted = _run("secret", "delete", NAME, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert NAME not in _run("secret", "list").output


def test_an_existing_name_needs_force():
    name = f"cli-force-{uuid.uuid4().hex[:8]}"
    assert _run("secret", "create", name, "A=1").exit_code == 0
    again = _run("secret", "create", name, f"A={VALUE}")
    assert again.exit_code == 2
    assert "already exists" in again.output and "Traceback" not in again.output
    assert VALUE not in again.output
    forced = _run("secret", "create", name, "B=2", "--force")
    assert forced.exit_code == 0, forced.output
    line = next(r for r in _run("secret", "list").output.splitlines() if r.startswith(name))
    assert line.rstrip().endswith("B")  # the contents were replaced


def test_from_dotenv_and_from_json(workdir):
    name = f"cli-files-{uuid.uuid4().hex[:8]}"
    (workdir / "vars.env").write_text("FROM_DOTENV=1\nSHARED=dotenv\n")
    (workdir / "vars.json").write_text(json.dumps({"FROM_JSON": "2", "SHARED": "json"}))
    result = _run(
        "secret",
        "create",
        name,
        "--from-dotenv",
        str(workdir / "vars.env"),
        "--from-json",
        str(workdir / "vars.json"),
        "FROM_ARGS=3",
    )
    assert result.exit_code == 0, result.output
    line = next(r for r in _run("secret", "list").output.splitlines() if r.startswith(name))
    assert "FROM_ARGS, FROM_DOTENV, FROM_JSON, SHARED" in line


def test_delete_of_a_missing_secret():
    missing = f"cli-missing-{uuid.uuid4().hex[:8]}"
    result = _run("secret", "delete", missing, "--yes")
    assert result.exit_code == 2 and missing in result.output and "Traceback" not in result.output
    assert _run("secret", "delete", missing, "--yes", "--allow-missing").exit_code == 0


def test_delete_asks_for_confirmation():
    name = f"cli-confirm-{uuid.uuid4().hex[:8]}"
    assert _run("secret", "create", name, "A=1").exit_code == 0
    refused = _run("secret", "delete", name, input="n\n")
    assert refused.exit_code != 0
    assert name in _run("secret", "list").output
    assert _run("secret", "delete", name, input="y\n").exit_code == 0
    assert name not in _run("secret", "list").output


def test_bad_arguments_fail_in_one_line():
    result = _run("secret", "create", f"cli-bad-{uuid.uuid4().hex[:8]}", "NOEQUALS")
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = _run("secret", "create", "bad name!", "A=1")
    assert result.exit_code == 2 and "invalid secret name" in result.output
