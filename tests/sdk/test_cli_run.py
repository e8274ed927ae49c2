"""``strato run``: the console script, as a user types it in a shell."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

STRATO = os.path.join(os.path.dirname(sys.executable), "strato")

APP_SOURCE = textwrap.dedent(
    """
    import strato

    app = strato.App("cli-run-test")


    @app.function()
    def double(x: int) -> int:
        return x * 2


    @app.function()
    def greet(name: str = "world", excited: bool = False) -> str:
        return f"hello {name}" + ("!" if excited else "")


    @app.function()
    def count_up(n: int):
        for i in range(n):
            yield f"item-{i}"


    @app.local_entrypoint()
    def main(
        n: int, name: str = "world", loud: bool = False, ratio: float = 0.5, max_items: int = 7
    ):
        print(f"N={n!r} NAME={name!r} LOUD={loud!r} RATIO={ratio!r} MAX_ITEMS={max_items!r}")
        print("SUM", sum(double.map(range(n))))


    @app.local_entrypoint()
    def other():
        print("OTHER-RAN")
    """
)


def _run(cwd, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STRATO_DATA_DIR": os.environ["STRATO_DATA_DIR"],
        "STRATO_CONFIG_DIR": os.environ["STRATO_CONFIG_DIR"],
    }
    env.pop("STRATO_SERVER_URL", None)
    return subprocess.run(
        [STRATO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "app.py").write_text(APP_SOURCE)
    return tmp_path


def test_entrypoint_arguments_are_parsed_by_type(app_dir):
    result = _run(
        app_dir, "run", "app.py::main", "--n", "3", "--name", "bob", "--loud", "--ratio", "2.5"
    )
    assert result.returncode == 0, result.stderr
    assert "N=3 NAME='bob' LOUD=True RATIO=2.5 MAX_ITEMS=7" in result.stdout
    assert "SUM 6" in result.stdout  # the map ran remotely: 0 + 2 + 4


def test_entrypoint_defaults_no_flag_and_kebab_case(app_dir):
    result = _run(app_dir, "run", "app.py::main", "--n", "4", "--no-loud", "--max-items", "9")
    assert result.returncode == 0, result.stderr
    assert "N=4 NAME='world' LOUD=False RATIO=0.5 MAX_ITEMS=9" in result.stdout
    assert "SUM 12" in result.stdout


def test_function_target_runs_remotely_and_prints_its_result(app_dir):
    result = _run(app_dir, "run", "app.py::double", "--x", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4"


def test_function_target_with_str_and_bool_options(app_dir):
    result = _run(app_dir, "run", "app.py::greet", "--name", "ada", "--excited")
    assert result.returncode == 0, result.stderr
    assert "hello ada!" in result.stdout


def test_generator_target_prints_each_item(app_dir):
    result = _run(app_dir, "run", "app.py::count_up", "--n", "3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("item-")]
    assert lines == ["item-0", "item-1", "item-2"]


def test_bad_value_for_a_typed_argument_is_a_clean_error(app_dir):
    result = _run(app_dir, "run", "app.py::main", "--n", "abc")
    assert result.returncode != 0
    assert "--n" in result.stderr and "abc" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "SUM" not in result.stdout


def test_unknown_option_is_a_clean_error(app_dir):
    result = _run(app_dir, "run", "app.py::main", "--n", "1", "--bogus", "3")
    assert result.returncode != 0
    assert "--bogus" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_several_entrypoints_without_a_name_ask_for_one(app_dir):
    result = _run(app_dir, "run", "app.py")
    assert result.returncode != 0
    assert "main" in result.stderr and "other" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_entrypoint_name_lists_the_choices(app_dir):
    result = _run(app_dir, "run", "app.py::nothere")
    assert result.returncode != 0
    assert "nothere" in result.stderr
    assert "main" in result.stderr and "double" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_required_argument_is_a_clean_error(app_dir):
    result = _run(app_dir, "run", "app.py::main")
    assert result.returncode != 0
    assert "--n" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "N=None" not in result.stdout


def test_missing_file_is_a_clean_error(app_dir):
    result = _run(app_dir, "run", "missing.py")
    assert result.returncode != 0
    assert "missing.py" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_help_lists_the_commands(tmp_path):
    result = _run(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "server", "app", "token"):
        assert any(line.split()[:1] == [command] for line in result.stdout.splitlines()), command
