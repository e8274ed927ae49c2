"""``strato.Queue``: FIFO queues in the control plane, split into independent partitions.

Items are cloudpickled here and stored as bytes. ``get`` and ``put`` block by default: the
control plane parks a blocked call until the partition changes (no polling from here), and a
timeout raises the standard library's ``queue.Empty`` or ``queue.Full``. Modal's limits hold:
at most 100,000 partitions, 5,000 items a partition, 1 MiB an item, partition keys of 1 to 64
bytes; a partition is cleared ``partition_ttl`` seconds (24 hours by default) after its last
``put``.
"""

from __future__ import annotations

import queue as stdlib_queue
import time
from typing import Any, ClassVar

from strato._serialization import loads
from strato.dict import (
    ObjectManager,
    Op,
    _Call,
    _Emit,
    _Ephemeral,
    _hydrate,
    _hydrate_async,
    _NamedObject,
    check_name,
    encode,
    live,
    live_iterator,
)
from strato.exception import InvalidError, RequestSizeError
from strato.function import _Dual

MAX_ITEM_BYTES = 1024 * 1024
MAX_PARTITION_ITEMS = 5_000
MAX_PARTITIONS = 100_000
MAX_PARTITION_KEY_BYTES = 64
DEFAULT_PARTITION_TTL_S = 24 * 3600
#: items one page of ``iterate()`` carries
_ITERATE_PAGE = 100


def _check_ttl(partition_ttl: Any) -> float:
    if (
        isinstance(partition_ttl, bool)
        or not isinstance(partition_ttl, int | float)
        or not 0 < partition_ttl <= DEFAULT_PARTITION_TTL_S
    ):
        raise InvalidError(
            f"partition_ttl must be a number of seconds in (0, {DEFAULT_PARTITION_TTL_S}],"
            f" got {partition_ttl!r}"
        )
    return float(partition_ttl)


def _check_timeout(timeout: Any) -> None:
    if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
        raise InvalidError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")


class Queue(_NamedObject):
    """A distributed FIFO queue: ``Queue.from_name("jobs", create_if_missing=True).put(x)``.

    ``partition="key"`` reaches an independent FIFO inside the same queue; without it, calls
    use the default partition.
    """

    _kind = "queue"
    objects: ClassVar[ObjectManager]

    @staticmethod
    def from_name(
        name: str, *, environment_name: str | None = None, create_if_missing: bool = False
    ) -> Queue:
        """A named Queue, looked up (or created) on first use."""
        return Queue(check_name("queue", name), create_if_missing=create_if_missing)

    @classmethod
    def ephemeral(cls, client: Any = None, environment_name: str | None = None) -> _Ephemeral:
        """An anonymous Queue that lives for a ``with`` (or ``async with``) block."""
        return _Ephemeral(cls, client, None)

    @staticmethod
    def delete(name: str, *, client: Any = None, environment_name: str | None = None) -> None:
        """Delete a named Queue (deprecated on Modal: use ``Queue.objects.delete``)."""
        Queue.objects.delete(name, client=client)

    @staticmethod
    def validate_partition_key(partition: str | None) -> bytes:
        """The partition key as bytes (empty for the default partition), or InvalidError."""
        if partition is None:
            return b""
        if not isinstance(partition, str):
            raise InvalidError(f"a partition key must be a str, got {type(partition).__name__}")
        key = partition.encode("utf-8")
        if not 0 < len(key) <= MAX_PARTITION_KEY_BYTES:
            raise InvalidError(
                f"a partition key must be 1 to {MAX_PARTITION_KEY_BYTES} bytes long,"
                f" got {len(key)} bytes"
            )
        return key

    hydrate = _Dual(_hydrate, _hydrate_async)
    info = live(_NamedObject._op_info)

    # -- taking items ----------------------------------------------------------------------
    def _op_take(self, n: int, block: bool, timeout: float | None, partition: str | None) -> Op:
        key = Queue.validate_partition_key(partition).decode()
        _check_timeout(timeout)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidError(f"n_values must be a positive int, got {n!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait: float | None = 0.0
            if block:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            # The plane parks a blocked call until the partition has items (or `wait` runs
            # out) and answers "ready" without taking them, so a caller that went away
            # meanwhile loses nothing; the next round takes them (or, when another consumer
            # was faster, waits again for what is left of the timeout).
            answer = yield _Call("queue.get", {"partition": key, "n": n, "wait": wait})
            if answer["items"]:
                return [loads(item) for item in answer["items"]]
            if not block:
                return []
            if not answer["ready"]:
                raise stdlib_queue.Empty()

    def _op_get(
        self, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> Op:
        """Remove and return the next item.

        Blocks until one arrives (``timeout`` seconds at most, then ``queue.Empty``); with
        ``block=False``, returns None at once when the partition is empty.
        """
        items = yield from self._op_take(1, block, timeout, partition)
        return items[0] if items else None

    def _op_get_many(
        self,
        n_values: int,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
    ) -> Op:
        """Remove and return up to ``n_values`` items (at least one when blocking)."""
        return (yield from self._op_take(n_values, block, timeout, partition))

    # -- adding items ----------------------------------------------------------------------
    def _op_add(
        self,
        values: list[Any],
        block: bool,
        timeout: float | None,
        partition: str | None,
        partition_ttl: float,
    ) -> Op:
        key = Queue.validate_partition_key(partition).decode()
        ttl = _check_ttl(partition_ttl)
        _check_timeout(timeout)
        if len(values) > MAX_PARTITION_ITEMS:
            raise RequestSizeError(
                f"put_many got {len(values):,} items; a partition holds at most"
                f" {MAX_PARTITION_ITEMS:,}"
            )
        items = [encode(v, "a Queue item", MAX_ITEM_BYTES) for v in values]
        if not items:
            return None
        wait: float | None = 0.0
        if block:
            wait = None if timeout is None else float(timeout)
        answer = yield _Call(
            "queue.put", {"partition": key, "items": items, "ttl": ttl, "wait": wait}
        )
        if not answer["stored"]:
            raise stdlib_queue.Full()
        return None

    def _op_put(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = DEFAULT_PARTITION_TTL_S,
    ) -> Op:
        """Add an item at the end; when the partition is full, wait for room (``timeout``
        seconds at most, then ``queue.Full``), or raise ``queue.Full`` at once with
        ``block=False``."""
        return (yield from self._op_add([v], block, timeout, partition, partition_ttl))

    def _op_put_many(
        self,
        vs: list[Any],
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = DEFAULT_PARTITION_TTL_S,
    ) -> Op:
        """Add several items at the end, all or none (waiting for room as ``put`` does)."""
        return (yield from self._op_add(list(vs), block, timeout, partition, partition_ttl))

    # -- the rest --------------------------------------------------------------------------
    def _op_len(self, *, partition: str | None = None, total: bool = False) -> Op:
        """The number of items in a partition, or in all of them with ``total=True``."""
        if partition is not None and total:
            raise InvalidError("len(): give a partition or total=True, not both")
        key = Queue.validate_partition_key(partition).decode()
        return int((yield _Call("queue.len", {"partition": key, "total": total})))

    def _op_clear(self, *, partition: str | None = None, all: bool = False) -> Op:  # noqa: A002
        """Empty one partition, or every partition with ``all=True``."""
        if partition is not None and all:
            raise InvalidError("clear(): give a partition or all=True, not both")
        key = Queue.validate_partition_key(partition).decode()
        yield _Call("queue.clear", {"partition": key, "all": all})

    def _op_iterate(self, *, partition: str | None = None, item_poll_timeout: float = 0.0) -> Op:
        """Iterate over the items without removing them, oldest first; at the end, wait up
        to ``item_poll_timeout`` seconds for another item before stopping."""
        key = Queue.validate_partition_key(partition).decode()
        _check_timeout(item_poll_timeout)
        after = -1
        while True:
            page = yield _Call(
                "queue.peek",
                {"partition": key, "after": after, "n": _ITERATE_PAGE, "wait": item_poll_timeout},
            )
            if not page:
                return
            for _seq, data in page:
                yield _Emit(loads(data))
            after = page[-1][0]

    get = live(_op_get)
    get_many = live(_op_get_many)
    put = live(_op_put)
    put_many = live(_op_put_many)
    len = live(_op_len)
    clear = live(_op_clear)
    iterate = live_iterator(_op_iterate)


Queue.objects = ObjectManager(Queue)

__all__ = ["Queue"]
