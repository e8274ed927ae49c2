"""Queues on the control plane: FIFO partitions of pickled items in the database.

A partition is a row with two counters: items ``head <= seq < tail`` are in it, so its length,
a put and a get never count rows. It expires ``ttl`` seconds after its last put (the ``ttl``
of that put; Modal's ``partition_ttl``, 24 hours by default): expired partitions read as
empty at once and are deleted by a sweep that runs at most once a minute, from puts.

Blocked calls wait on the plane's event loop, not in a polling loop: each (queue, partition)
that someone waits on has an :class:`asyncio.Event`, set by every put, get and clear on this
plane. A waiter also looks again every :data:`RECHECK_S` seconds, for changes made by another
process on the same database (a second control-plane replica, or the CLI in embedded mode).
A blocked get answers "ready" rather than taking the items, so that a caller that went away
while it waited loses nothing; the client then takes them with a second call.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from sqlalchemy import BigInteger, Column, Float, Index, LargeBinary, String, Table, delete

from strato.core.objects import RPC
from strato.core.objects._named import Objects, as_bytes, due, object_table, public
from strato.core.schema import metadata
from strato.exception import InvalidError, NotFoundError, RequestSizeError
from strato.queue import (
    DEFAULT_PARTITION_TTL_S,
    MAX_ITEM_BYTES,
    MAX_PARTITION_ITEMS,
    MAX_PARTITION_KEY_BYTES,
    MAX_PARTITIONS,
)

RECHECK_S = 1.0
SWEEP_EVERY_S = 60.0

queues = object_table("queues")

queue_partitions = Table(
    "queue_partitions",
    metadata,
    Column("queue_id", String(40), primary_key=True),
    Column("partition", String(MAX_PARTITION_KEY_BYTES), primary_key=True),  # "" = default
    Column("head", BigInteger, nullable=False),
    Column("tail", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
)
Index("queue_partitions_by_expiry", queue_partitions.c.expires_at)

queue_items = Table(
    "queue_items",
    metadata,
    Column("queue_id", String(40), primary_key=True),
    Column("partition", String(MAX_PARTITION_KEY_BYTES), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("value", LargeBinary, nullable=False),
)


def _delete_contents(conn: Any, queue_id: str) -> None:
    conn.execute(delete(queue_items).where(queue_items.c.queue_id == queue_id))
    conn.execute(delete(queue_partitions).where(queue_partitions.c.queue_id == queue_id))


QUEUES = Objects("queue", queues, "qu", on_delete=_delete_contents)


# -- waking waiters ------------------------------------------------------------------------------
class Signals:
    """One event per (queue, partition) someone waits on; any change sets and replaces it."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], asyncio.Event] = {}
        self.waiting: dict[tuple[str, str], int] = {}

    def changed(self, queue_id: str, partition: str | None = None) -> None:
        """Wake the waiters of one partition, or of every partition of the queue."""
        if partition is not None:
            keys = [(queue_id, partition)]
        else:
            keys = [key for key in self.events if key[0] == queue_id]
        for key in keys:
            event = self.events.pop(key, None)
            if event is not None:
                event.set()

    async def wait(self, key: tuple[str, str], timeout: float) -> None:
        """Until the partition changes, or ``timeout`` seconds."""
        event = self.events.get(key)
        if event is None:
            event = self.events[key] = asyncio.Event()
        self.waiting[key] = self.waiting.get(key, 0) + 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.waiting[key] -= 1
            if not self.waiting[key]:
                del self.waiting[key]
                if self.events.get(key) is event:
                    del self.events[key]


_signals: weakref.WeakKeyDictionary[Any, Signals] = weakref.WeakKeyDictionary()


def signals(plane: Any) -> Signals:
    found = _signals.get(plane)
    if found is None:
        found = _signals[plane] = Signals()
    return found


async def _wait_until(
    plane: Any, key: tuple[str, str], wait: float | None, check: Any, on_timeout: Any
) -> Any:
    """Run ``check()`` after each change until it returns something, or ``wait`` runs out."""
    loop = asyncio.get_running_loop()
    deadline = None if wait is None else loop.time() + wait
    while True:
        found = check()
        if found is not None:
            return found
        remaining = RECHECK_S if deadline is None else min(RECHECK_S, deadline - loop.time())
        if remaining <= 0:
            return on_timeout
        await signals(plane).wait(key, remaining)


# -- the database --------------------------------------------------------------------------------
def _params(params: dict[str, Any]) -> tuple[str, str]:
    partition = params.get("partition") or ""
    if not isinstance(partition, str) or len(partition.encode()) > MAX_PARTITION_KEY_BYTES:
        raise InvalidError(f"a partition key must be 1 to {MAX_PARTITION_KEY_BYTES} bytes long")
    return params["id"], partition


def _require(store: Any, cur: Any, queue_id: str) -> None:
    cur.execute(store._sql("SELECT 1 FROM queues WHERE id = ?"), (queue_id,))
    if cur.fetchone() is None:
        raise NotFoundError(f"the queue {queue_id!r} does not exist (was it deleted?)")


def _partition(store: Any, cur: Any, queue_id: str, partition: str) -> Any:
    """(head, tail, expires_at) of a partition, locked for the transaction on PostgreSQL."""
    lock = "" if store.is_sqlite else " FOR UPDATE"
    cur.execute(
        store._sql(
            "SELECT head, tail, expires_at FROM queue_partitions"
            " WHERE queue_id = ? AND partition = ?" + lock
        ),
        (queue_id, partition),
    )
    return cur.fetchone()


def _live(store: Any, cur: Any, queue_id: str, partition: str, now: float) -> tuple[int, int]:
    """(head, tail) of a partition; an expired or missing one is empty."""
    row = _partition(store, cur, queue_id, partition)
    if row is None or row[2] <= now:
        _require(store, cur, queue_id)
        return 0, 0
    return int(row[0]), int(row[1])


def _sweep(store: Any, cur: Any, now: float) -> None:
    if not due(store, "queue_partitions", SWEEP_EVERY_S):
        return
    cur.execute(
        store._sql("SELECT queue_id, partition FROM queue_partitions WHERE expires_at <= ?"),
        (now,),
    )
    expired = cur.fetchall()
    for queue_id, partition in expired:
        cur.execute(
            store._sql("DELETE FROM queue_items WHERE queue_id = ? AND partition = ?"),
            (queue_id, partition),
        )
    cur.execute(store._sql("DELETE FROM queue_partitions WHERE expires_at <= ?"), (now,))


def add(store: Any, queue_id: str, partition: str, items: list[bytes], ttl: float) -> bool:
    """Append items to a partition, all or none; False when they do not fit."""
    now = time.time()
    with store._cursor() as cur:
        row = _partition(store, cur, queue_id, partition)
        if row is None:
            _require(store, cur, queue_id)
            cur.execute(
                store._sql(
                    "SELECT COUNT(*) FROM queue_partitions WHERE queue_id = ? AND expires_at > ?"
                ),
                (queue_id, now),
            )
            if cur.fetchone()[0] >= MAX_PARTITIONS:
                raise RequestSizeError(
                    f"the queue has {MAX_PARTITIONS:,} partitions, the most it may have"
                )
            cur.execute(
                store._sql(
                    "INSERT INTO queue_partitions (queue_id, partition, head, tail, expires_at)"
                    " VALUES (?, ?, 0, 0, ?)"
                ),
                (queue_id, partition, now + ttl),
            )
            head = tail = 0
        else:
            head, tail = int(row[0]), int(row[1])
            if row[2] <= now:  # expired: it starts again empty (seq keeps growing)
                cur.execute(
                    store._sql("DELETE FROM queue_items WHERE queue_id = ? AND partition = ?"),
                    (queue_id, partition),
                )
                head = tail
        if tail - head + len(items) > MAX_PARTITION_ITEMS:
            return False
        cur.executemany(
            store._sql(
                "INSERT INTO queue_items (queue_id, partition, seq, value) VALUES (?, ?, ?, ?)"
            ),
            [(queue_id, partition, tail + i, item) for i, item in enumerate(items)],
        )
        cur.execute(
            store._sql(
                "UPDATE queue_partitions SET head = ?, tail = ?, expires_at = ?"
                " WHERE queue_id = ? AND partition = ?"
            ),
            (head, tail + len(items), now + ttl, queue_id, partition),
        )
        _sweep(store, cur, now)
    return True


def take(store: Any, queue_id: str, partition: str, n: int) -> list[bytes]:
    """Remove and return up to ``n`` items from the head of a partition."""
    with store._cursor() as cur:
        head, tail = _live(store, cur, queue_id, partition, time.time())
        end = min(tail, head + n)
        if end <= head:
            return []
        cur.execute(
            store._sql(
                "SELECT value FROM queue_items WHERE queue_id = ? AND partition = ?"
                " AND seq >= ? AND seq < ? ORDER BY seq"
            ),
            (queue_id, partition, head, end),
        )
        values = [as_bytes(row[0]) for row in cur.fetchall()]
        cur.execute(
            store._sql(
                "DELETE FROM queue_items WHERE queue_id = ? AND partition = ?"
                " AND seq >= ? AND seq < ?"
            ),
            (queue_id, partition, head, end),
        )
        cur.execute(
            store._sql("UPDATE queue_partitions SET head = ? WHERE queue_id = ? AND partition = ?"),
            (end, queue_id, partition),
        )
    return values


def size(store: Any, queue_id: str, partition: str) -> int:
    with store._cursor() as cur:
        head, tail = _live(store, cur, queue_id, partition, time.time())
    return tail - head


def peek(store: Any, queue_id: str, partition: str, after: int, n: int) -> list[list[Any]]:
    """Up to ``n`` items after position ``after``, left in place: ``[[seq, value], ...]``."""
    with store._cursor() as cur:
        head, tail = _live(store, cur, queue_id, partition, time.time())
        if tail <= max(head, after + 1):
            return []
        cur.execute(
            store._sql(
                "SELECT seq, value FROM queue_items WHERE queue_id = ? AND partition = ?"
                " AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?"
            ),
            (queue_id, partition, max(head, after + 1), tail, n),
        )
        return [[int(seq), as_bytes(value)] for seq, value in cur.fetchall()]


# -- handlers ------------------------------------------------------------------------------------
def queue_put(plane: Any, params: dict[str, Any]) -> Any:
    queue_id, partition = _params(params)
    items = [bytes(item) for item in params.get("items") or []]
    if len(items) > MAX_PARTITION_ITEMS:
        raise RequestSizeError(f"a partition holds at most {MAX_PARTITION_ITEMS:,} items")
    for item in items:
        if len(item) > MAX_ITEM_BYTES:
            raise RequestSizeError(f"a Queue item is over the {MAX_ITEM_BYTES:,}-byte limit")
    ttl = float(params.get("ttl") or DEFAULT_PARTITION_TTL_S)
    if not 0 < ttl <= DEFAULT_PARTITION_TTL_S:
        raise InvalidError(f"partition_ttl must be in (0, {DEFAULT_PARTITION_TTL_S}] seconds")
    store = plane.store

    def attempt() -> dict[str, Any] | None:
        if not add(store, queue_id, partition, items, ttl):
            return None
        signals(plane).changed(queue_id, partition)
        return {"stored": True}

    done = attempt()
    wait = params.get("wait", 0.0)
    if done is not None or wait == 0:
        return done or {"stored": False}
    return _wait_until(plane, (queue_id, partition), wait, attempt, {"stored": False})


def queue_get(plane: Any, params: dict[str, Any]) -> Any:
    queue_id, partition = _params(params)
    n = int(params.get("n") or 1)
    store = plane.store
    items = take(store, queue_id, partition, n)
    if items:
        signals(plane).changed(queue_id, partition)  # room for blocked puts
    wait = params.get("wait", 0.0)
    if items or wait == 0:
        return {"items": items, "ready": bool(items)}

    def ready() -> dict[str, Any] | None:
        if size(store, queue_id, partition) > 0:
            return {"items": [], "ready": True}
        return None

    return _wait_until(plane, (queue_id, partition), wait, ready, {"items": [], "ready": False})


def queue_peek(plane: Any, params: dict[str, Any]) -> Any:
    queue_id, partition = _params(params)
    after, n = int(params.get("after", -1)), int(params.get("n") or 100)
    store = plane.store
    found = peek(store, queue_id, partition, after, n)
    wait = params.get("wait") or 0.0
    if found or wait == 0:
        return found
    return _wait_until(
        plane,
        (queue_id, partition),
        wait,
        lambda: peek(store, queue_id, partition, after, n) or None,
        [],
    )


def queue_len(plane: Any, params: dict[str, Any]) -> int:
    store = plane.store
    queue_id, partition = _params(params)
    if not params.get("total"):
        return size(store, queue_id, partition)
    with store._cursor() as cur:
        _require(store, cur, queue_id)
        cur.execute(
            store._sql(
                "SELECT COALESCE(SUM(tail - head), 0) FROM queue_partitions"
                " WHERE queue_id = ? AND expires_at > ?"
            ),
            (queue_id, time.time()),
        )
        return int(cur.fetchone()[0])


def queue_clear(plane: Any, params: dict[str, Any]) -> None:
    store = plane.store
    queue_id, partition = _params(params)
    everything = bool(params.get("all"))
    where = "queue_id = ?" if everything else "queue_id = ? AND partition = ?"
    args = (queue_id,) if everything else (queue_id, partition)
    with store._cursor() as cur:
        _require(store, cur, queue_id)
        cur.execute(store._sql(f"DELETE FROM queue_items WHERE {where}"), args)
        cur.execute(store._sql(f"UPDATE queue_partitions SET head = tail WHERE {where}"), args)
    signals(plane).changed(queue_id, None if everything else partition)


def queue_lookup(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return QUEUES.lookup(plane.store, params["name"], bool(params.get("create_if_missing")))


def queue_create(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return QUEUES.create(plane.store, params["name"], bool(params.get("allow_existing")))


def queue_ephemeral(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return QUEUES.create(plane.store, None)


def queue_delete(plane: Any, params: dict[str, Any]) -> bool:
    deleted_id = params.get("id")
    if deleted_id is None and params.get("name"):
        try:
            deleted_id = QUEUES.lookup(plane.store, params["name"])["id"]
        except NotFoundError:
            deleted_id = None
    gone = QUEUES.delete(
        plane.store,
        name=params.get("name"),
        object_id=params.get("id"),
        allow_missing=bool(params.get("allow_missing")),
    )
    if deleted_id is not None:
        signals(plane).changed(deleted_id)  # waiters find it gone
    return gone


def queue_list(plane: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = QUEUES.list(plane.store, params.get("max_objects"), params.get("created_before"))
    return [public(row) for row in rows]


def queue_info(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return public(QUEUES.get(plane.store, params["id"]))


RPC.update(
    {
        "queue.lookup": queue_lookup,
        "queue.create": queue_create,
        "queue.ephemeral": queue_ephemeral,
        "queue.delete": queue_delete,
        "queue.list": queue_list,
        "queue.info": queue_info,
        "queue.put": queue_put,
        "queue.get": queue_get,
        "queue.peek": queue_peek,
        "queue.len": queue_len,
        "queue.clear": queue_clear,
    }
)
