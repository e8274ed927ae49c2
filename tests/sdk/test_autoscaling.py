"""The autoscaler's settings: min_containers, max_containers, buffer_containers,
scaledown_window, and update_autoscaler, observed through containers' ids and stats."""

from __future__ import annotations

import os
import time

import pytest

import strato

app = strato.App("autoscaling")


@app.function(max_containers=1)
def one_at_a_time(x: int) -> str:
    time.sleep(0.01)
    return os.environ["STRATO_CONTAINER_ID"]


@app.function(max_containers=3)
def slow(x: int) -> str:
    time.sleep(0.4)
    return os.environ["STRATO_CONTAINER_ID"]


@app.function(min_containers=2, scaledown_window=2)
def warm() -> str:
    return os.environ["STRATO_CONTAINER_ID"]


@app.function(scaledown_window=2)
def quick() -> str:
    return os.environ["STRATO_CONTAINER_ID"]


@app.function(buffer_containers=2, max_containers=5)
def buffered(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ["STRATO_CONTAINER_ID"]


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def running():
    with app.run():
        yield


def test_max_containers_bounds_the_pool(running):
    assert len(set(one_at_a_time.map(range(40)))) == 1


def test_work_spreads_over_up_to_max_containers(running):
    started = time.monotonic()
    ids = list(slow.map(range(6)))
    elapsed = time.monotonic() - started
    assert 2 <= len(set(ids)) <= 3
    assert elapsed < 6 * 0.4  # ran in parallel


def test_min_containers_are_started_before_any_call(running):
    assert wait_for(lambda: warm.get_current_stats()["num_total_runners"] == 2)
    assert warm.get_current_stats()["backlog"] == 0


def test_min_containers_stay_after_the_scaledown_window(running):
    assert wait_for(lambda: warm.get_current_stats()["num_total_runners"] == 2)
    warm.remote()
    time.sleep(3)
    assert warm.get_current_stats()["num_total_runners"] == 2


def test_idle_containers_stop_after_the_scaledown_window(running):
    quick.remote()
    assert quick.get_current_stats()["num_total_runners"] == 1
    assert wait_for(lambda: quick.get_current_stats()["num_total_runners"] == 0, timeout=10)
    # the next call starts a fresh container
    assert quick.remote().startswith("ct-")


def test_buffer_containers_are_kept_while_the_function_is_busy(running):
    call = buffered.spawn(2.0)
    assert wait_for(lambda: buffered.get_current_stats()["num_total_runners"] == 3, timeout=5)
    call.get()


def test_update_autoscaler_overrides_min_containers(running):
    assert quick.get_current_stats()["num_total_runners"] in (0, 1)
    quick.update_autoscaler(min_containers=2)
    assert wait_for(lambda: quick.get_current_stats()["num_total_runners"] == 2)
    quick.update_autoscaler(min_containers=0)


def test_update_autoscaler_rejects_negative_values(running):
    with pytest.raises(strato.exception.InvalidError, match="min_containers"):
        quick.update_autoscaler(min_containers=-1)
