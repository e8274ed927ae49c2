"""Containers that die: killed mid-input, or failing at start-up.

Functions record what they have seen as files in the working directory, which local
containers share with the test (their private /tmp would not survive the kill).
"""

from __future__ import annotations

import os
import signal

import pytest

import strato
from strato.exception import ExecutionError

app = strato.App("container-faults")

KILLERS_FEW = (37, 101, 163)
KILLERS_MANY = (10, 20, 30, 40, 50)


def _first_time(name: str) -> bool:
    """True the first time ``name`` is seen by any container of this test."""
    try:
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, os.environ.get("STRATO_CONTAINER_ID", "").encode())
    os.close(fd)
    return True


def _record(name: str) -> None:
    with open(name, "a") as fh:
        fh.write(os.environ.get("STRATO_CONTAINER_ID", "") + "\n")


@app.function()
def die_first_time(x: int) -> dict:
    if _first_time(f"seen-remote-{x}"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"value": x * 3, "container": os.environ["STRATO_CONTAINER_ID"]}


@app.function()
def die_once_for_a_few(x: int) -> int:
    if x in KILLERS_FEW and _first_time(f"seen-few-{x}"):
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 2


@app.function(max_containers=1)
def die_once_for_several(x: int) -> int:
    if x in KILLERS_MANY and _first_time(f"seen-many-{x}"):
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 2


@app.function()
def always_die(x: int) -> int:
    _record("attempts-always-die")
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@app.cls()
class FailingEnter:
    @strato.enter()
    def setup(self) -> None:
        _record("enter-attempts")
        raise RuntimeError("enter failed on purpose")

    @strato.method()
    def go(self, x: int) -> int:
        return x


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.timeout(90)
def test_remote_killed_mid_input_is_retried_on_another_container(workdir):
    with app.run():
        result = die_first_time.remote(7)
    assert result["value"] == 21
    killed_container = (workdir / "seen-remote-7").read_text()
    assert killed_container.startswith("ct-")
    assert result["container"] != killed_container


@pytest.mark.timeout(90)
def test_map_with_a_few_killed_containers_returns_every_output_once_in_order(workdir):
    with app.run():
        results = list(die_once_for_a_few.map(range(200)))
    assert results == [x * 2 for x in range(200)]
    # every killer really did kill a container once
    assert sorted(p.name for p in workdir.glob("seen-few-*")) == sorted(
        f"seen-few-{x}" for x in KILLERS_FEW
    )


@pytest.mark.timeout(90)
def test_map_survives_several_killed_containers_on_one_container(workdir):
    with app.run():
        results = list(
            die_once_for_several.map(
                range(200), return_exceptions=True, wrap_returned_exceptions=False
            )
        )
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == []
    assert results == [x * 2 for x in range(200)]


@pytest.mark.timeout(90)
def test_input_that_always_kills_its_container_fails_after_three_retries(workdir):
    with app.run():
        with pytest.raises(ExecutionError, match="crashed 4 times"):
            always_die.remote(1)
    attempts = _lines(workdir / "attempts-always-die")
    assert len(attempts) == 4
    assert len(set(attempts)) == 4  # each attempt on a fresh container


@pytest.mark.timeout(90)
def test_failing_enter_raises_its_error_in_the_caller_after_three_starts(workdir):
    with app.run():
        with pytest.raises(RuntimeError, match="enter failed on purpose") as info:
            FailingEnter().go.remote(1)
    traceback_text = str(info.value.__cause__)
    assert "setup" in traceback_text
    assert 'raise RuntimeError("enter failed on purpose")' in traceback_text
    attempts = _lines(workdir / "enter-attempts")
    assert len(attempts) == 3
    assert len(set(attempts)) == 3


@pytest.mark.timeout(90)
def test_failing_enter_fails_every_input_of_a_map(workdir):
    with app.run():
        results = list(
            FailingEnter().go.map(range(5), return_exceptions=True, wrap_returned_exceptions=False)
        )
    assert len(results) == 5
    assert all(isinstance(r, RuntimeError) for r in results)
    assert all("enter failed on purpose" in str(r) for r in results)


@pytest.mark.timeout(90)
def test_failing_enter_fails_again_on_the_next_call_rather_than_hanging(workdir):
    with app.run():
        for _ in range(2):
            with pytest.raises(RuntimeError, match="enter failed on purpose"):
                FailingEnter().go.remote(1)
    assert len(_lines(workdir / "enter-attempts")) == 6
