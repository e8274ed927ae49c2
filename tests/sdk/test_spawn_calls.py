"""Spawned calls: ``spawn``, ``FunctionCall.get``/``from_id``/``gather``/``cancel``, and
``spawn_map``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import strato

app = strato.App("spawn-calls")


class SpawnFailure(RuntimeError):
    """Raised by ``explode``; defined here so both sides can unpickle it."""


@app.function()
def double(x: int) -> int:
    return 2 * x


@app.function()
def combine(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


@app.function()
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def own_call_id(_i: int = 0) -> str | None:
    return strato.current_function_call_id()


@app.function()
def explode(message: str) -> None:
    raise SpawnFailure(message)


@app.function()
def wait_until_cancelled(marker: str) -> str:
    """Leave ``<marker>.started``; on cancellation leave ``<marker>.cancelled``."""
    Path(f"{marker}.started").touch()
    try:
        for _ in range(200):  # short sleeps, so an asynchronous exception lands promptly
            time.sleep(0.05)
    except strato.exception.InputCancellation:
        Path(f"{marker}.cancelled").touch()
        raise
    Path(f"{marker}.finished").touch()
    return "finished"


def _wait_for(path: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("spawn-calls")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_spawn_returns_a_function_call_whose_get_gives_the_result(app_dir):
    call = double.spawn(21)
    assert isinstance(call, strato.FunctionCall)
    assert call.object_id.startswith("fc-")
    assert call.get() == 42
    assert call.get() == 42  # the result stays available
    assert call.get(timeout=0) == 42  # a finished call answers without waiting
    assert call.num_inputs() == 1


def test_get_with_zero_timeout_on_a_slow_call_raises_timeout_error(app_dir):
    call = sleepy.spawn(1.0)
    started = time.monotonic()
    with pytest.raises(strato.exception.TimeoutError):
        call.get(timeout=0)
    assert time.monotonic() - started < 0.9  # it did not wait for the 1 s call
    assert call.get(timeout=10) == 1.0


def test_get_of_a_failed_spawn_raises_the_original_exception(app_dir):
    call = explode.spawn("spawned and failed")
    with pytest.raises(SpawnFailure, match="spawned and failed"):
        call.get()


def test_from_id_reattaches_to_a_spawned_call(app_dir):
    call_id = double.spawn(5).object_id
    again = strato.FunctionCall.from_id(call_id)
    assert again.object_id == call_id
    assert again.get() == 10


def test_from_id_of_an_unknown_call_raises_not_found(app_dir):
    with pytest.raises(strato.exception.NotFoundError):
        strato.FunctionCall.from_id("fc-00000000000000000000")


def test_spawned_input_sees_the_id_of_its_call(app_dir):
    call = own_call_id.spawn()
    assert call.get() == call.object_id


def test_from_id_finds_the_call_of_a_finished_map(app_dir):
    call_ids = set(own_call_id.map(range(3)))
    assert len(call_ids) == 1
    (map_call_id,) = call_ids
    time.sleep(1.0)  # the plane saves what callers received on its periodic tick
    call = strato.FunctionCall.from_id(map_call_id)
    assert call.object_id == map_call_id
    assert call.num_inputs() == 3


def test_gather_returns_results_in_argument_order(app_dir):
    slow = sleepy.spawn(0.3)
    fast = double.spawn(4)
    assert strato.FunctionCall.gather(slow, fast) == [0.3, 8]


def test_gather_raises_a_failure_of_any_call(app_dir):
    good = double.spawn(1)
    bad = explode.spawn("one of two failed")
    with pytest.raises(SpawnFailure, match="one of two failed"):
        strato.FunctionCall.gather(good, bad)


def test_cancel_makes_get_raise_input_cancellation(app_dir):
    call = wait_until_cancelled.spawn("cancel-get")
    assert _wait_for(app_dir / "cancel-get.started"), "the spawned input never started"
    call.cancel()
    started = time.monotonic()
    try:
        call.get(timeout=5)
    except strato.exception.InputCancellation:
        pass
    else:
        pytest.fail("get() of a cancelled call returned instead of raising InputCancellation")
    assert time.monotonic() - started < 3.0


def test_cancel_interrupts_the_running_input(app_dir):
    call = wait_until_cancelled.spawn("cancel-run")
    assert _wait_for(app_dir / "cancel-run.started"), "the spawned input never started"
    call.cancel()
    assert _wait_for(app_dir / "cancel-run.cancelled", seconds=5.0)
    assert not (app_dir / "cancel-run.finished").exists()


def test_spawn_map_returns_a_call_with_every_output(app_dir):
    call = double.spawn_map(range(5))
    assert isinstance(call, strato.FunctionCall)
    assert call.num_inputs() == 5
    assert list(call.iter()) == [0, 2, 4, 6, 8]
    again = strato.FunctionCall.from_id(call.object_id)
    assert again.num_inputs() == 5
    assert list(again.iter(start=3)) == [6, 8]


def test_spawn_map_passes_several_iterables_and_kwargs(app_dir):
    call = combine.spawn_map([1, 2, 3], [10, 20], kwargs={"scale": 2})
    assert call.num_inputs() == 2
    assert list(call.iter()) == [22, 44]
