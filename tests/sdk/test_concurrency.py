"""``@strato.concurrent``: one container runs several inputs at once (threads for sync
functions, tasks for coroutine functions), and each input knows its own id."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import strato

app = strato.App("concurrency")

NAP_S = 0.5


def _record(started: float) -> dict:
    return {
        "input": strato.current_input_id(),
        "call": strato.current_function_call_id(),
        "container": os.environ.get("STRATO_CONTAINER_ID"),
        "thread": threading.get_ident(),
        "start": started,
        "end": time.time(),
    }


@app.function(max_containers=1)
@strato.concurrent(max_inputs=4)
def nap(_i: int) -> dict:
    started = time.time()
    time.sleep(NAP_S)
    return _record(started)


@app.function(max_containers=1)
@strato.concurrent(max_inputs=4)
async def async_nap(_i: int) -> dict:
    started = time.time()
    await asyncio.sleep(NAP_S)
    return _record(started)


@app.function(max_containers=1)
@strato.concurrent(max_inputs=2)
def short_nap(_i: int) -> dict:
    started = time.time()
    time.sleep(0.2)
    return _record(started)


def _most_at_once(records: list[dict]) -> int:
    """The largest number of inputs whose run intervals overlap at one instant."""
    events = sorted(
        [(r["start"], 1) for r in records] + [(r["end"], -1) for r in records],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    return most


def _warm(function: strato.Function) -> None:
    """Start the one container, so timings measure running inputs, not a cold start."""
    function.remote(-1)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("concurrency")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_sync_concurrent_inputs_run_at_once_on_threads_of_one_container(app_dir):
    _warm(nap)
    started = time.monotonic()
    records = list(nap.map(range(4)))
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"4 inputs of {NAP_S}s took {elapsed:.2f}s: not run concurrently"
    assert _most_at_once(records) == 4
    assert len({r["container"] for r in records}) == 1
    assert len({r["thread"] for r in records}) == 4


def test_async_concurrent_inputs_run_at_once_as_tasks_of_one_container(app_dir):
    _warm(async_nap)
    started = time.monotonic()
    records = list(async_nap.map(range(4)))
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"4 inputs of {NAP_S}s took {elapsed:.2f}s: not run concurrently"
    assert _most_at_once(records) == 4
    assert len({r["container"] for r in records}) == 1
    assert len({r["thread"] for r in records}) == 1  # one event loop, many tasks


def test_concurrent_never_runs_more_than_max_inputs_at_once(app_dir):
    records = list(short_nap.map(range(6)))
    assert len({r["container"] for r in records}) == 1
    assert _most_at_once(records) == 2


def test_current_input_id_differs_per_input_inside_the_container(app_dir):
    records = list(nap.map(range(4)))
    single = nap.remote(0)
    input_ids = [r["input"] for r in records] + [single["input"]]
    assert all(isinstance(i, str) and i for i in input_ids)
    assert len(set(input_ids)) == 5
    # the inputs of one map share its call id; a separate remote call has its own
    assert len({r["call"] for r in records}) == 1
    assert records[0]["call"] and single["call"] and records[0]["call"] != single["call"]


def test_current_input_id_differs_per_input_of_async_functions(app_dir):
    records = list(async_nap.map(range(4)))
    assert len({r["input"] for r in records}) == 4
    assert None not in {r["input"] for r in records}


def test_current_input_id_is_none_outside_a_container():
    assert strato.current_input_id() is None
    assert strato.current_function_call_id() is None
