"""Every program in examples/ runs with `strato run` and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRATO = os.path.join(os.path.dirname(sys.executable), "strato")


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRATO, "run", str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=dict(os.environ),
    )


def test_hello_world():
    result = run_example("hello_world.py", "--n", "4")
    assert result.returncode == 0, result.stderr
    assert "square(4) runs in a container: 16" in result.stdout
    assert "sum of squares below 4, computed in parallel: 14" in result.stdout
    assert "squaring 3 in a container" in result.stdout  # container output streamed back
    assert (
        "the container's exception arrives here: negative numbers are not allowed" in result.stderr
    )


def test_parallel_map():
    result = run_example("parallel_map.py", "--count", "120")
    assert result.returncode == 0, result.stderr
    assert "120 fingerprints" in result.stdout
    assert "spawned fc-" in result.stdout


def test_class_with_enter():
    result = run_example("class_with_enter.py")
    assert result.returncode == 0, result.stderr
    assert "['alpha', 'beta', 'gamma', 'alpha', 'beta']" in result.stdout
    assert "['un', 'deux', 'trois']" in result.stdout
    assert "1 container served every call" in result.stdout


@pytest.mark.parametrize("name", ["hello_world.py", "parallel_map.py", "class_with_enter.py"])
def test_examples_have_a_usage_line(name):
    assert f"strato run examples/{name}" in (ROOT / "examples" / name).read_text()
