"""A container's stdout and stderr reach the caller's terminal, and stay readable later
through ``strato app logs``."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli

app = strato.App("logs-streaming-test")


@app.function()
def chatty(tag: str) -> str:
    print(f"OUT-LINE {tag}")
    print(f"ERR-LINE {tag}", file=sys.stderr)
    return f"done {tag}"


@app.function()
def partial_line(tag: str) -> int:
    sys.stdout.write(f"NO-NEWLINE {tag}")
    return 1


@app.function()
def from_a_subprocess(tag: str) -> int:
    # output written by a child process to the inherited fd is captured too
    subprocess.run([sys.executable, "-c", f"print('CHILD-LINE {tag}')"], check=True)
    return 2


@app.function()
def many_lines(n: int) -> int:
    for i in range(n):
        print(f"line {i:04d}")
    return n


def _cli_logs(app_ref: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["app", "logs", app_ref])
    return result.exit_code, result.output


def test_stdout_and_stderr_arrive_before_remote_returns(workdir, capfd):
    with app.run():
        capfd.readouterr()
        assert chatty.remote("a1") == "done a1"
        out, err = capfd.readouterr()
    assert "OUT-LINE a1" in out
    assert "ERR-LINE a1" in err
    assert "ERR-LINE a1" not in out
    assert "OUT-LINE a1" not in err


def test_unfinished_last_line_arrives_before_remote_returns(workdir, capfd):
    with app.run():
        capfd.readouterr()
        assert partial_line.remote("p1") == 1
        out, _ = capfd.readouterr()
    assert "NO-NEWLINE p1" in out


def test_output_of_a_child_process_is_captured(workdir, capfd):
    with app.run():
        capfd.readouterr()
        assert from_a_subprocess.remote("c1") == 2
        out, _ = capfd.readouterr()
    assert "CHILD-LINE c1" in out


def test_many_lines_arrive_complete_and_in_order(workdir, capfd):
    with app.run():
        capfd.readouterr()
        assert many_lines.remote(300) == 300
        out, _ = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("line ")]
    assert lines == [f"line {i:04d}" for i in range(300)]


def test_app_logs_shows_the_lines_afterwards(workdir, capfd):
    name = "logs-streaming-test"
    with app.run():
        chatty.remote("later-1")
        app_id = app.app_id
    assert app_id is not None
    code, output = _cli_logs(app_id)
    assert code == 0, output
    assert "OUT-LINE later-1" in output
    assert "ERR-LINE later-1" in output
    # by name: the latest app with that name, which is this one
    code, output = _cli_logs(name)
    assert code == 0, output
    assert "OUT-LINE later-1" in output


def test_app_logs_of_a_later_run_does_not_show_an_earlier_runs_lines(workdir):
    with app.run():
        chatty.remote("first-run")
    with app.run():
        chatty.remote("second-run")
        second_id = app.app_id
    code, output = _cli_logs(second_id)
    assert code == 0, output
    assert "OUT-LINE second-run" in output
    assert "first-run" not in output


def test_app_logs_of_an_unknown_app_fails_cleanly(workdir):
    code, output = _cli_logs("no-such-app-anywhere")
    assert code != 0
    assert "no-such-app-anywhere" in output
    assert "Traceback" not in output


def test_app_list_shows_the_stopped_app(workdir):
    with app.run():
        chatty.remote("listed")
        app_id = app.app_id
    result = CliRunner().invoke(cli, ["app", "list"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith(app_id))
    assert "logs-streaming-test" in row
    assert "stopped" in row
