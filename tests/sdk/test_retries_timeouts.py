"""Retries of failed inputs (``retries=N`` and ``strato.Retries``) and the per-attempt
``timeout``."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

import strato
from strato.exception import FunctionTimeoutError

app = strato.App("retries-timeouts")


class AttemptFailed(RuntimeError):
    """Raised by the flaky functions; defined here so both sides can unpickle it."""


def _next_attempt(counter: str) -> int:
    """Count an attempt in a file of the container's working directory."""
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt


@app.function(retries=2)
def fails_twice(counter: str) -> str:
    attempt = _next_attempt(counter)
    if attempt <= 2:
        raise AttemptFailed(f"attempt {attempt} failed")
    return f"succeeded on attempt {attempt}"


@app.function(retries=strato.Retries(max_retries=1, initial_delay=0.1, backoff_coefficient=1.0))
def always_fails(counter: str) -> None:
    attempt = _next_attempt(counter)
    raise AttemptFailed(f"attempt {attempt} failed")


@app.function(retries=strato.Retries(max_retries=1, initial_delay=0.1))
def odd_inputs_fail_once(x: int) -> int:
    attempt = _next_attempt(f"input-{x}.count")
    if x % 2 and attempt == 1:
        raise AttemptFailed(f"input {x} failed its first attempt")
    return x * 10


# A generous startup_timeout: without one, ``timeout`` also bounds the container's start-up.
@app.function(timeout=1, startup_timeout=60)
def oversleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@app.function(timeout=1, startup_timeout=60)
async def async_oversleeps(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "woke up"


@app.function(
    timeout=1, startup_timeout=60, retries=strato.Retries(max_retries=1, initial_delay=0.1)
)
def slow_first_time(counter: str) -> int:
    attempt = _next_attempt(counter)
    if attempt == 1:
        time.sleep(3)
    return attempt


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("retries-timeouts")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_function_failing_twice_then_succeeding_returns_the_value(app_dir):
    started = time.monotonic()
    assert fails_twice.remote("fails-twice.count") == "succeeded on attempt 3"
    elapsed = time.monotonic() - started
    assert (app_dir / "fails-twice.count").read_text() == "3"
    # retries=N waits 1 s before each retry, as Modal does
    assert elapsed >= 1.9


def test_exhausted_retries_reraise_the_user_exception(app_dir):
    with pytest.raises(AttemptFailed, match="attempt 2 failed"):
        always_fails.remote("always-fails.count")
    time.sleep(0.3)  # no further attempt may follow the final failure
    assert (app_dir / "always-fails.count").read_text() == "2"


def test_each_map_input_is_retried_on_its_own(app_dir):
    assert list(odd_inputs_fail_once.map(range(4))) == [0, 10, 20, 30]
    attempts = {x: (app_dir / f"input-{x}.count").read_text() for x in range(4)}
    assert attempts == {0: "1", 1: "2", 2: "1", 3: "2"}


def test_function_running_past_its_timeout_raises_function_timeout_error(app_dir):
    assert oversleeps.remote(0) == "woke up"  # start the container: time only the input
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError):
        oversleeps.remote(3)
    elapsed = time.monotonic() - started
    assert elapsed < 2.9, f"the timeout of 1 s fired only after {elapsed:.2f}s"


def test_async_function_running_past_its_timeout_raises_function_timeout_error(app_dir):
    assert async_oversleeps.remote(0) == "woke up"  # start the container: time only the input
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError):
        async_oversleeps.remote(3)
    elapsed = time.monotonic() - started
    assert elapsed < 2.9, f"the timeout of 1 s fired only after {elapsed:.2f}s"


def test_timed_out_attempt_is_retried(app_dir):
    assert slow_first_time.remote("slow-first.count") == 2
    assert (app_dir / "slow-first.count").read_text() == "2"
