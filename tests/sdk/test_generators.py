"""Generator functions: ``remote_gen`` streams values in order (sync and async generators),
``remote`` refuses them, and a failure mid-stream arrives after the values before it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

import strato
from strato.exception import InvalidError

app = strato.App("generators")


class GeneratorBroke(RuntimeError):
    """Raised by the failing generators; defined here so both sides can unpickle it."""


@app.function()
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


@app.function()
async def async_count_up(n: int, step: int = 10) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i * step


@app.function()
def fail_after(n: int) -> Iterator[int]:
    yield from range(n)
    raise GeneratorBroke(f"broke after {n} values")


@app.function()
async def async_fail_after(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i
    raise GeneratorBroke(f"async broke after {n} values")


@app.function()
def plain(x: int) -> int:
    return x


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("generators")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_remote_gen_yields_values_in_order(app_dir):
    assert list(count_up.remote_gen(5)) == [0, 1, 2, 3, 4]


def test_remote_gen_keeps_the_order_of_many_values(app_dir):
    assert list(count_up.remote_gen(2000)) == list(range(2000))


def test_remote_gen_of_an_empty_generator_yields_nothing(app_dir):
    assert list(count_up.remote_gen(0)) == []


def test_remote_gen_of_an_async_generator_yields_values_in_order(app_dir):
    assert list(async_count_up.remote_gen(4, step=5)) == [0, 5, 10, 15]


def test_remote_gen_aio_iterates_asynchronously(app_dir):
    async def main() -> list[int]:
        return [value async for value in count_up.remote_gen.aio(6)]

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]


def test_remote_on_a_generator_function_is_an_error(app_dir):
    with pytest.raises(InvalidError, match="remote_gen"):
        count_up.remote(3)


def test_remote_gen_on_a_plain_function_is_an_error(app_dir):
    with pytest.raises(InvalidError, match="remote"):
        list(plain.remote_gen(3))


def test_error_mid_generator_reaches_the_caller_after_earlier_values(app_dir):
    received = []
    with pytest.raises(GeneratorBroke, match="broke after 3 values"):
        for value in fail_after.remote_gen(3):
            received.append(value)
    assert received == [0, 1, 2]


def test_error_mid_async_generator_reaches_the_caller_after_earlier_values(app_dir):
    received = []
    with pytest.raises(GeneratorBroke, match="async broke after 2 values"):
        for value in async_fail_after.remote_gen(2):
            received.append(value)
    assert received == [0, 1]
