"""strato.Queue through the public API: from the caller and from functions in local containers."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid

import pytest

import strato
from strato.client import Client
from strato.exception import InvalidError, NotFoundError, RequestSizeError

app = strato.App("queues-api-test")

jobs = strato.Queue.from_name("queues-api-jobs", create_if_missing=True)


@app.function()
def produce(value: object, partition: str | None = None) -> int:
    jobs.put(value, partition=partition)
    return jobs.len(partition=partition)


@app.function()
def consume(timeout: float, partition: str | None = None) -> tuple[object, float]:
    started = time.monotonic()
    value = jobs.get(timeout=timeout, partition=partition)
    return value, time.monotonic() - started


@app.function()
def consume_or_empty(timeout: float) -> str:
    try:
        jobs.get(timeout=timeout)
    except queue.Empty:
        return "empty"
    return "got one"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class CountingClient:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def rpc(self, method, params, timeout=None):
        self.sent.append(method)
        return Client.from_env().rpc(method, params, timeout)

    async def rpc_async(self, method, params):
        self.sent.append(method)
        return await Client.from_env().rpc_async(method, params)


def test_a_blocked_get_in_a_function_returns_after_a_put_from_another_function(workdir):
    jobs.clear(all=True)
    with app.run():
        waiting = consume.spawn(60.0)
        time.sleep(1.5)  # the consumer is parked on the control plane by now
        assert produce.remote("wake up") in (0, 1)
        value, waited = waiting.get(timeout=30)
    assert value == "wake up"
    assert 1.0 < waited < 30


def test_a_blocked_get_times_out_with_queue_empty(workdir):
    jobs.clear(all=True)
    with app.run():
        assert consume_or_empty.remote(0.5) == "empty"
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        jobs.get(timeout=0.4)
    assert 0.35 < time.monotonic() - started < 3


def test_the_caller_and_functions_share_partitions(workdir):
    jobs.clear(all=True)
    jobs.put("caller-item", partition="from-caller")
    with app.run():
        assert produce.remote("fn-item", "from-fn") == 1
        value, _ = consume.remote(5.0, "from-caller")
    assert value == "caller-item"
    assert jobs.get(partition="from-fn") == "fn-item"
    assert jobs.len(total=True) == 0


def test_a_named_queue_persists_across_two_app_runs(workdir):
    jobs.clear(all=True)
    with app.run():
        produce.remote("kept", "persist")
    with app.run():
        assert consume.remote(5.0, "persist")[0] == "kept"


def test_fifo_order_get_many_and_non_blocking_forms():
    with strato.Queue.ephemeral() as q:
        q.put("a")
        q.put_many(["b", "c", "d"])
        assert q.len() == 4
        assert q.get() == "a"
        assert q.get_many(2) == ["b", "c"]
        assert q.get_many(10) == ["d"]
        assert q.get(block=False) is None
        assert q.get_many(3, block=False) == []


def test_partitions_are_independent():
    with strato.Queue.ephemeral() as q:
        q.put(0)
        q.put(1, partition="foo")
        q.put(2, partition="bar")
        assert q.get(partition="bar") == 2
        assert q.len() == 1 and q.len(partition="foo") == 1 and q.len(total=True) == 2
        q.clear(partition="foo")
        assert q.len(partition="foo") == 0 and q.len() == 1
        q.put(3, partition="foo")
        q.clear(all=True)
        assert q.len(total=True) == 0
        with pytest.raises(InvalidError):
            q.len(partition="foo", total=True)
        with pytest.raises(InvalidError):
            q.clear(partition="foo", all=True)


def test_iterate_reads_in_place_and_can_wait_for_more():
    with strato.Queue.ephemeral() as q:
        q.put_many(list(range(250)))
        assert list(q.iterate()) == list(range(250))  # several pages
        assert q.len() == 250  # nothing was taken

        def later() -> None:
            time.sleep(0.3)
            q.put("late")

        threading.Thread(target=later).start()
        seen = list(q.iterate(item_poll_timeout=1.0))
        assert seen[-1] == "late" and len(seen) == 251


def test_partition_keys_follow_modals_rules():
    assert strato.Queue.validate_partition_key(None) == b""
    assert strato.Queue.validate_partition_key("é") == "é".encode()
    with pytest.raises(InvalidError):
        strato.Queue.validate_partition_key("")
    with pytest.raises(InvalidError, match="64 bytes"):
        strato.Queue.validate_partition_key("x" * 65)
    assert strato.Queue.validate_partition_key("x" * 64) == b"x" * 64


def test_oversize_items_fail_in_the_client_before_sending():
    counting = CountingClient()
    with strato.Queue.ephemeral(client=counting) as q:
        sent_before = list(counting.sent)
        with pytest.raises(RequestSizeError, match="1,048,576"):
            q.put(b"x" * (1024 * 1024))
        with pytest.raises(RequestSizeError):
            q.put_many([1, b"x" * (1024 * 1024)])
        with pytest.raises(RequestSizeError, match="5,000"):
            q.put_many(list(range(5001)))
        assert counting.sent == sent_before
        q.put(b"x" * (1024 * 1024 - 100))  # just under the limit
        assert q.len() == 1


def test_a_full_partition_blocks_put_until_there_is_room():
    with strato.Queue.ephemeral() as q:
        q.put_many(list(range(5000)))
        with pytest.raises(queue.Full):
            q.put("one more", block=False)
        started = time.monotonic()
        with pytest.raises(queue.Full):
            q.put("one more", timeout=0.3)
        assert time.monotonic() - started >= 0.25

        def drain() -> None:
            time.sleep(0.3)
            q.get()

        threading.Thread(target=drain).start()
        q.put("one more", timeout=10)  # stored once the get made room
        assert q.len() == 5000


def test_a_partition_expires_its_ttl_after_the_last_put():
    with strato.Queue.ephemeral() as q:
        q.put("short-lived", partition="p", partition_ttl=1)
        q.put("default ttl")
        time.sleep(0.5)
        q.put("renewed", partition="p", partition_ttl=1)  # a put restarts the clock
        time.sleep(0.7)
        assert q.len(partition="p") == 2
        time.sleep(0.5)
        assert q.len(partition="p") == 0 and q.get(block=False, partition="p") is None
        assert q.len() == 1
        q.put("again", partition="p", partition_ttl=1)
        assert q.get(partition="p") == "again"
        with pytest.raises(InvalidError):
            q.put(1, partition_ttl=0)
        with pytest.raises(InvalidError):
            q.put(1, partition_ttl=2 * 24 * 3600)


def test_a_blocked_get_does_not_poll_the_database(monkeypatch):
    import strato.core.objects.queues as plane_queues

    checks = []
    real_size = plane_queues.size

    def counted(*args):
        checks.append(time.monotonic())
        return real_size(*args)

    monkeypatch.setattr(plane_queues, "size", counted)
    with strato.Queue.ephemeral() as q:
        with pytest.raises(queue.Empty):
            q.get(timeout=2.0)
    # one look when parked, then one a second for other writers (RECHECK_S), not a spin
    assert 1 <= len(checks) <= 4


def test_deleting_a_queue_wakes_its_blocked_getters():
    name = _unique("doomed")
    q = strato.Queue.from_name(name, create_if_missing=True)
    q.hydrate()
    errors: list[BaseException] = []

    def getter() -> None:
        try:
            q.get(timeout=20)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=getter)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    strato.Queue.objects.delete(name)
    thread.join(10)
    assert time.monotonic() - started < 5
    assert errors and isinstance(errors[0], NotFoundError)


def test_async_forms():
    async def main(q: strato.Queue) -> list:
        async def later() -> None:
            await asyncio.sleep(0.2)
            await q.put.aio("async item")

        task = asyncio.create_task(later())
        got = await q.get.aio(timeout=10)
        await task
        await q.put_many.aio([1, 2])
        seen = [v async for v in q.iterate.aio()]
        return [got, await q.len.aio(), seen, await q.get_many.aio(5)]

    with strato.Queue.ephemeral() as q:
        assert asyncio.run(main(q)) == ["async item", 2, [1, 2], [1, 2]]


def test_an_ephemeral_queue_is_gone_after_its_block():
    with strato.Queue.ephemeral() as q:
        q.put(1)
    with pytest.raises(NotFoundError):
        q.put(2)


def test_objects_namespace_and_info():
    name = _unique("managed")
    strato.Queue.objects.create(name)
    assert name in [q.name for q in strato.Queue.objects.list()]
    assert strato.Queue.from_name(name).info().name == name
    strato.Queue.objects.delete(name)
    with pytest.raises(NotFoundError):
        strato.Queue.from_name(name).len()
