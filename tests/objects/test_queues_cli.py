"""``strato queue create/list/peek/len/clear/delete`` against what functions put."""

from __future__ import annotations

import json
import uuid

from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli

# fixed: a container imports this module again and must find the same name
NAME = "cli-queue-test"

app = strato.App("queues-cli-test")
q = strato.Queue.from_name(NAME)


@app.function()
def fill() -> int:
    q.put_many(["first", "second", "third"])
    q.put_many([1, 2], partition="numbers")
    return q.len(total=True)


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_the_cli_sees_what_a_function_put(workdir):
    _run("queue", "delete", NAME, "--yes", "--allow-missing")
    assert _run("queue", "create", NAME).exit_code == 0
    assert _run("queue", "create", NAME).exit_code == 0  # a no-op when it exists
    with app.run():
        assert fill.remote() == 5

    listed = _run("queue", "list")
    row = next(line for line in listed.output.splitlines() if line.startswith(NAME))
    assert row.rstrip().endswith("5")
    as_json = json.loads(_run("queue", "list", "--json").output)
    assert next(r for r in as_json if r["name"] == NAME)["total_size"] == 5

    assert _run("queue", "peek", NAME).output.splitlines() == ["first"]
    assert _run("queue", "peek", NAME, "2").output.splitlines() == ["first", "second"]
    assert _run("queue", "peek", NAME, "9", "-p", "numbers").output.splitlines() == ["1", "2"]
    assert q.len() == 3  # peeking took nothing

    assert _run("queue", "len", NAME).output.strip() == "3"
    assert _run("queue", "len", NAME, "--partition", "numbers").output.strip() == "2"
    assert _run("queue", "len", NAME, "--total").output.strip() == "5"

    assert _run("queue", "clear", NAME, "-p", "numbers", "--yes").exit_code == 0
    assert q.len(partition="numbers") == 0 and q.len() == 3
    assert _run("queue", "clear", NAME, "--all", "--yes").exit_code == 0
    assert q.len(total=True) == 0

    assert _run("queue", "delete", NAME, "--yes").exit_code == 0
    assert NAME not in _run("queue", "list").output
    gone = _run("queue", "len", NAME)
    assert (
        gone.exit_code == 2 and "no queue named" in gone.output and "Traceback" not in gone.output
    )


def test_clear_and_delete_ask_for_confirmation():
    name = f"cli-confirm-{uuid.uuid4().hex[:8]}"
    mine = strato.Queue.from_name(name, create_if_missing=True)
    mine.put(1)
    assert _run("queue", "clear", name, input="n\n").exit_code != 0
    assert mine.len() == 1
    assert _run("queue", "delete", name, input="n\n").exit_code != 0
    assert _run("queue", "delete", name, input="y\n").exit_code == 0
    assert _run("queue", "delete", name, "--yes").exit_code == 2
    assert _run("queue", "delete", name, "--yes", "--allow-missing").exit_code == 0


def test_bad_partition_keys_fail_in_one_line():
    name = f"cli-bad-{uuid.uuid4().hex[:8]}"
    assert _run("queue", "create", name).exit_code == 0
    result = _run("queue", "len", name, "-p", "x" * 65)
    assert result.exit_code == 2 and "64 bytes" in result.output
    result = _run("queue", "len", name, "-p", "x", "--total")
    assert result.exit_code == 2 and "not both" in result.output
