"""The shapes of ``Function.map``: several iterables, kwargs, unordered outputs, returned
exceptions, ``starmap``, ``for_each``, and the edge cases of no inputs and many inputs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import strato
from strato._results import UserCodeException

app = strato.App("map-variants")
#: A second app, stopped within one test while ``app`` keeps running for the others.
stopping_app = strato.App("map-variants-stopping")


class OddInputError(ValueError):
    """Raised by ``fail_on_odd``; defined here so both sides can unpickle it."""


@app.function()
def add(a: int, b: int) -> int:
    return a + b


@app.function()
def scaled(x: int, *, factor: int = 1, offset: int = 0) -> int:
    return x * factor + offset


@app.function()
def identity(x: int) -> int:
    return x


@app.function()
def later_for_smaller(x: int) -> int:
    time.sleep(0.04 * (5 - x))
    return x


@app.function(max_containers=1)
@strato.concurrent(max_inputs=2)
def sleep_and_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def fail_on_odd(x: int) -> int:
    if x % 2:
        raise OddInputError(f"odd input: {x}")
    return x


@stopping_app.function(max_containers=1)
def stamp_unless_first(i: int) -> int:
    if i == 0:
        raise OddInputError("the first input fails")
    time.sleep(0.05)
    Path(f"stamp-{i}.txt").write_text(repr(time.time()))
    return i


@app.function()
def leave_mark(name: str, text: str = "") -> None:
    Path(name).write_text(text or name)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("map-variants")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_map_zips_several_iterables_and_stops_at_the_shortest(app_dir):
    assert list(add.map([1, 2, 3], [10, 20, 30, 40])) == [11, 22, 33]


def test_map_passes_kwargs_to_every_input(app_dir):
    outputs = list(scaled.map([1, 2, 3], kwargs={"factor": 10, "offset": 1}))
    assert outputs == [11, 21, 31]


def test_map_unordered_returns_every_output_once(app_dir):
    outputs = list(later_for_smaller.map(range(6), order_outputs=False))
    assert sorted(outputs) == list(range(6))


def test_map_unordered_yields_outputs_as_they_complete(app_dir):
    # both inputs run at once on the one container: the short one finishes first
    assert list(sleep_and_return.map([0.6, 0.05], order_outputs=False)) == [0.05, 0.6]
    assert list(sleep_and_return.map([0.6, 0.05])) == [0.6, 0.05]


def test_map_unordered_over_many_inputs_loses_and_repeats_nothing(app_dir):
    outputs = list(identity.map(range(3000), order_outputs=False))
    assert len(outputs) == 3000
    assert set(outputs) == set(range(3000))


def test_map_return_exceptions_wraps_user_errors_by_default(app_dir):
    outputs = list(fail_on_odd.map(range(4), return_exceptions=True))
    assert [outputs[0], outputs[2]] == [0, 2]
    for failed, x in ((outputs[1], 1), (outputs[3], 3)):
        assert isinstance(failed, UserCodeException)
        assert isinstance(failed.exc, OddInputError)
        assert str(failed.exc) == f"odd input: {x}"


def test_map_return_exceptions_unwrapped_gives_the_original_exceptions(app_dir):
    outputs = list(
        fail_on_odd.map(range(4), return_exceptions=True, wrap_returned_exceptions=False)
    )
    assert [outputs[0], outputs[2]] == [0, 2]
    for failed, x in ((outputs[1], 1), (outputs[3], 3)):
        assert type(failed) is OddInputError
        assert str(failed) == f"odd input: {x}"


def test_map_failure_raises_the_original_exception_in_the_caller(app_dir):
    with pytest.raises(OddInputError, match="odd input: 1"):
        list(fail_on_odd.map(range(4)))


def test_map_yields_outputs_before_the_first_failure(app_dir):
    seen = []
    with pytest.raises(OddInputError):
        for value in fail_on_odd.map([0, 2, 4, 5, 6]):
            seen.append(value)
    assert seen == [0, 2, 4]


def test_starmap_unpacks_each_tuple_into_arguments(app_dir):
    assert list(add.starmap([(1, 2), (3, 4), (5, 6)])) == [3, 7, 11]
    assert list(scaled.starmap([(1,), (2,)], kwargs={"factor": 3})) == [3, 6]


def test_starmap_return_exceptions_keeps_the_input_order(app_dir):
    outputs = list(
        fail_on_odd.starmap([(2,), (3,)], return_exceptions=True, wrap_returned_exceptions=False)
    )
    assert outputs[0] == 2
    assert isinstance(outputs[1], OddInputError)


def test_for_each_runs_every_input_for_its_effects(app_dir):
    names = [f"mark-{i}.txt" for i in range(5)]
    result = leave_mark.for_each(names, kwargs={"text": "done"})
    assert result is None
    assert sorted(p.name for p in app_dir.glob("mark-*.txt")) == names
    assert {(app_dir / name).read_text() for name in names} == {"done"}


def test_for_each_raises_a_failure_unless_ignored(app_dir):
    with pytest.raises(OddInputError):
        fail_on_odd.for_each([0, 1, 2])
    assert fail_on_odd.for_each([0, 1, 2], ignore_exceptions=True) is None


def test_map_over_no_inputs_returns_no_outputs(app_dir):
    assert list(identity.map([])) == []
    assert list(add.map([], [1, 2])) == []
    assert list(add.starmap([])) == []


def test_map_without_iterables_is_an_error(app_dir):
    with pytest.raises(strato.exception.InvalidError):
        list(identity.map())


def test_map_of_5000_inputs_returns_each_output_once_in_order(app_dir):
    outputs = list(identity.map(range(5000)))
    assert len(outputs) == 5000
    assert outputs == list(range(5000))


def test_no_input_of_an_abandoned_map_runs_after_the_app_stops(workdir):
    with stopping_app.run():
        with pytest.raises(OddInputError):
            list(stamp_unless_first.map(range(40)))
        time.sleep(0.6)  # a few ticks of the control plane
    stopped_at = time.time()
    time.sleep(2.0)
    stamps = [float(p.read_text()) for p in workdir.glob("stamp-*.txt")]
    assert len(stamps) < 39, "every queued input ran although the app had stopped"
    assert max(stamps, default=0.0) < stopped_at + 0.5
