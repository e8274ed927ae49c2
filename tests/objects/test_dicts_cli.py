"""``strato dict create/list/items/get/clear/delete`` against what functions wrote."""

from __future__ import annotations

import json
import uuid

from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli

# fixed: a container imports this module again and must find the same name
NAME = "cli-dict-test"

app = strato.App("dicts-cli-test")
d = strato.Dict.from_name(NAME)


@app.function()
def fill(n: int) -> int:
    d.update({f"key-{i}": {"i": i} for i in range(n)})
    d[42] = "an int key"
    return d.len()


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_the_cli_sees_what_a_function_wrote(workdir):
    _run("dict", "delete", NAME, "--yes", "--allow-missing")
    assert _run("dict", "create", NAME).exit_code == 0
    assert _run("dict", "create", NAME).exit_code == 0  # a no-op when it exists
    with app.run():
        assert fill.remote(30) == 31

    listed = _run("dict", "list")
    assert listed.exit_code == 0 and NAME in listed.output
    assert NAME in [row["name"] for row in json.loads(_run("dict", "list", "--json").output)]

    got = _run("dict", "get", NAME, "key-7")
    assert got.exit_code == 0 and got.output.strip() == "{'i': 7}"
    missing = _run("dict", "get", NAME, "42")  # CLI keys are strings
    assert missing.exit_code == 1 and "no key '42'" in missing.output

    shown = _run("dict", "items", NAME)
    assert shown.exit_code == 0
    assert len([line for line in shown.output.splitlines() if "key-" in line]) <= 20
    everything = _run("dict", "items", NAME, "--all", "--repr")
    assert "'an int key'" in everything.output and "42" in everything.output
    assert len([line for line in everything.output.splitlines() if "'key-" in line]) == 30
    as_json = json.loads(_run("dict", "items", NAME, "5", "--json").output)
    assert len(as_json) == 5 and all("key" in item and "value" in item for item in as_json)

    cleared = _run("dict", "clear", NAME, "--yes")
    assert cleared.exit_code == 0 and d.len() == 0

    deleted = _run("dict", "delete", NAME, "--yes")
    assert deleted.exit_code == 0
    assert NAME not in _run("dict", "list").output
    gone = _run("dict", "get", NAME, "key-7")
    assert gone.exit_code == 2 and "no dict named" in gone.output and "Traceback" not in gone.output


def test_delete_of_a_missing_dict():
    missing = f"cli-missing-{uuid.uuid4().hex[:8]}"
    assert _run("dict", "delete", missing, "--yes").exit_code == 2
    assert _run("dict", "delete", missing, "--yes", "--allow-missing").exit_code == 0


def test_clear_asks_for_confirmation():
    name = f"cli-confirm-{uuid.uuid4().hex[:8]}"
    mine = strato.Dict.from_name(name, create_if_missing=True)
    mine["k"] = "v"
    assert _run("dict", "clear", name, input="n\n").exit_code != 0
    assert mine.len() == 1
    assert _run("dict", "clear", name, input="y\n").exit_code == 0
    assert mine.len() == 0
