"""``strato volume``: the CLI works on this machine's volumes with no control plane running."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli
from strato.plugins.local.provider import bubblewrap_path

runner = CliRunner()

app = strato.App("volume-cli")
SHARED = strato.Volume.from_name("cli-shared", create_if_missing=True)


@app.function(volumes={"/tmp/strato-vol/cli": SHARED})
def read_from_mount(path: str) -> str:
    return Path("/tmp/strato-vol/cli", path).read_text()


@app.function(volumes={"/tmp/strato-vol/cli": SHARED})
def write_to_mount(path: str, text: str) -> None:
    Path("/tmp/strato-vol/cli", path).write_text(text)
    SHARED.commit()


def run(*args: str):
    result = runner.invoke(cli, ["volume", *args])
    return result


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def name():
    name = f"cli-{secrets.token_hex(4)}"
    ok("create", name)
    yield name
    run("delete", name, "--yes", "--allow-missing")


def test_create_list_rename_and_delete():
    name, new = f"cli-{secrets.token_hex(4)}", f"cli-{secrets.token_hex(4)}"
    assert "Created volume" in ok("create", name)
    assert name in ok("list")
    assert name in [v["name"] for v in json.loads(ok("list", "--json"))]
    ok("rename", name, new, "--yes")
    names = [v["name"] for v in json.loads(ok("list", "--json"))]
    assert new in names and name not in names
    ok("delete", new, "--yes")
    assert new not in ok("list")
    missing = run("delete", new, "--yes")
    assert missing.exit_code == 2 and "Error:" in missing.output
    assert "Traceback" not in missing.output
    ok("delete", new, "--yes", "--allow-missing")


def test_put_ls_get_and_stdout(name, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "b.txt").write_text("beta")
    ok("put", name, str(tmp_path / "a.txt"))  # to the root, keeping its name
    ok("put", name, str(tmp_path / "a.txt"), "/docs/")
    ok("put", name, str(tree), "/tree")
    listing = json.loads(ok("ls", name, "--json"))
    assert [(e["path"], e["type"]) for e in listing] == [
        ("a.txt", "file"),
        ("docs", "directory"),
        ("tree", "directory"),
    ]
    assert "docs/a.txt" in ok("ls", name, "docs")
    assert ok("get", name, "docs/a.txt", "-") == "alpha"
    ok("get", name, "/tree", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "beta"
    (tmp_path / "dl").mkdir()
    ok("get", name, "a.txt", str(tmp_path / "dl"))  # into a directory, keeping the name
    assert (tmp_path / "dl" / "a.txt").read_text() == "alpha"
    clash = run("get", name, "a.txt", str(tmp_path / "dl"))
    assert clash.exit_code == 2 and "exists" in clash.output
    ok("get", name, "a.txt", str(tmp_path / "dl"), "--force")


def test_put_refuses_to_overwrite_without_force(name, tmp_path):
    (tmp_path / "f.txt").write_text("one")
    ok("put", name, str(tmp_path / "f.txt"), "/f.txt")
    (tmp_path / "f.txt").write_text("two")
    refused = run("put", name, str(tmp_path / "f.txt"), "/f.txt")
    assert refused.exit_code == 2 and "already exists" in refused.output
    ok("put", name, str(tmp_path / "f.txt"), "/f.txt", "--force")
    assert ok("get", name, "f.txt", "-") == "two"
    missing = run("put", name, str(tmp_path / "absent.txt"))
    assert missing.exit_code == 2 and "absent.txt" in missing.output


def test_rm_and_cp(name, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    ok("put", name, str(tmp_path / "f.txt"), "/d/f.txt")
    ok("cp", name, "d/f.txt", "g.txt")
    ok("cp", name, "d", "d2", "-r")
    assert {e["path"] for e in json.loads(ok("ls", name, "--json"))} == {"d", "d2", "g.txt"}
    refused = run("rm", name, "d")
    assert refused.exit_code == 2 and "recursive" in refused.output
    ok("rm", name, "d", "-r")
    ok("rm", name, "g.txt")
    assert [e["path"] for e in json.loads(ok("ls", name, "--json"))] == ["d2"]
    gone = run("get", name, "g.txt", "-")
    assert gone.exit_code == 2 and "Error:" in gone.output


@pytest.mark.skipif(bubblewrap_path() is None, reason="volumes need bubblewrap to be mounted")
def test_the_cli_and_functions_see_the_same_files(tmp_path):
    (tmp_path / "hello.txt").write_text("put by the CLI")
    run("create", "cli-shared")  # (already there when another test of this session made it)
    ok("put", "cli-shared", str(tmp_path / "hello.txt"), "/hello.txt", "--force")
    with app.run():
        seen = read_from_mount.remote("hello.txt")
        write_to_mount.remote("reply.txt", "written by a function")
    assert seen == "put by the CLI"
    assert ok("get", "cli-shared", "reply.txt", "-") == "written by a function"
