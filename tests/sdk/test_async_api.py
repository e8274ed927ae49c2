"""The ``.aio`` forms of calling (``remote``, ``map``, ``starmap``, ``for_each``, ``spawn``,
``get``, ``gather``), and ``async def`` function bodies run in containers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import strato

app = strato.App("async-api")


class AsyncFailure(RuntimeError):
    """Raised by ``async_fail``; defined here so both sides can unpickle it."""


@app.function()
def triple(x: int) -> int:
    return 3 * x


@app.function()
def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b)


@app.function()
async def async_square(x: int) -> dict:
    await asyncio.sleep(0.01)
    return {"value": x * x, "pid": os.getpid(), "container": os.environ.get("STRATO_CONTAINER_ID")}


@app.function()
async def async_fail(message: str) -> None:
    await asyncio.sleep(0)
    raise AsyncFailure(message)


@app.function()
def leave_mark(name: str) -> None:
    Path(name).write_text(name)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """Run the app once for this module, from a fresh directory its containers write to."""
    directory = tmp_path_factory.mktemp("async-api")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        with app.run():
            yield directory
    finally:
        os.chdir(previous)


def test_remote_aio_returns_the_result(app_dir):
    async def main() -> int:
        return await triple.remote.aio(4)

    assert asyncio.run(main()) == 12


def test_many_concurrent_remote_aio_calls_each_get_their_own_result(app_dir):
    async def main() -> list[int]:
        return await asyncio.gather(*(triple.remote.aio(i) for i in range(200)))

    results = asyncio.run(main())
    assert results == [3 * i for i in range(200)]


def test_remote_aio_raises_the_user_exception(app_dir):
    async def main() -> None:
        await async_fail.remote.aio("failed asynchronously")

    with pytest.raises(AsyncFailure, match="failed asynchronously"):
        asyncio.run(main())


def test_async_for_over_map_aio_yields_outputs_in_order(app_dir):
    async def main() -> list[int]:
        return [value async for value in triple.map.aio(range(20))]

    assert asyncio.run(main()) == [3 * i for i in range(20)]


def test_map_aio_unordered_and_starmap_aio_return_every_output(app_dir):
    async def main() -> tuple[list[int], list[tuple[int, int]]]:
        unordered = [v async for v in triple.map.aio(range(30), order_outputs=False)]
        starred = [v async for v in pair.starmap.aio([(1, 2), (3, 4)])]
        return unordered, starred

    unordered, starred = asyncio.run(main())
    assert sorted(unordered) == [3 * i for i in range(30)]
    assert starred == [(1, 2), (3, 4)]


def test_for_each_aio_runs_every_input(app_dir):
    names = [f"aio-mark-{i}.txt" for i in range(4)]

    async def main() -> None:
        await leave_mark.for_each.aio(names)

    asyncio.run(main())
    assert sorted(p.name for p in app_dir.glob("aio-mark-*.txt")) == names


def test_spawn_aio_then_get_aio_returns_the_result(app_dir):
    async def main() -> tuple[strato.FunctionCall, int]:
        call = await triple.spawn.aio(7)
        return call, await call.get.aio()

    call, result = asyncio.run(main())
    assert isinstance(call, strato.FunctionCall)
    assert result == 21


def test_gather_aio_waits_for_every_spawned_call(app_dir):
    async def main() -> list[int]:
        calls = [await triple.spawn.aio(i) for i in range(3)]
        return await strato.FunctionCall.gather.aio(*calls)

    assert asyncio.run(main()) == [0, 3, 6]


def test_async_function_body_runs_in_a_container(app_dir):
    blocking = async_square.remote(7)
    awaited = asyncio.run(async_square.remote.aio(8))
    mapped = list(async_square.map(range(5)))
    assert blocking["value"] == 49
    assert awaited["value"] == 64
    assert [m["value"] for m in mapped] == [0, 1, 4, 9, 16]
    assert blocking["pid"] != os.getpid()
    assert blocking["container"].startswith("ct-")
