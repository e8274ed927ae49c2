"""Dicts on the control plane: named (or ephemeral) key-value stores in the database.

Keys and values arrive pickled by the client and are stored as bytes, never unpickled here. An
entry is found by the SHA-256 of its pickled key (so any key length fits a database index)
and expires :data:`ENTRY_TTL_S` after its last read or write, as Modal's do after 7 days. To
keep reads cheap, a read refreshes the entry's time only when it is older than a hundredth of
the TTL (at most an hour), so expiry is exact to within that. Expired entries are invisible at
once and deleted by a sweep that runs at most once a minute, from writes.

Every operation is an RPC handler (:data:`strato.core.objects.RPC`) of a few raw SQL
statements, run on the plane's event loop.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy import Column, Float, Index, LargeBinary, String, Table, delete

from strato.core.objects import RPC
from strato.core.objects._named import Objects, as_bytes, due, object_table, public
from strato.core.schema import metadata
from strato.dict import MAX_OBJECT_BYTES, MAX_UPDATE_ENTRIES
from strato.exception import InvalidError, NotFoundError, RequestSizeError

#: An entry expires this long after its last read or write (Modal: 7 days). Read at each call,
#: so a test may lower it on an in-process plane.
ENTRY_TTL_S: float = 7 * 24 * 3600
SWEEP_EVERY_S = 60.0
#: How many bytes of keys and values one page of ``keys()``/``values()``/``items()`` carries.
SCAN_PAGE_BYTES = 4 * 1024 * 1024
SCAN_PAGE_ENTRIES = 1000

dicts = object_table("dicts")

dict_entries = Table(
    "dict_entries",
    metadata,
    Column("dict_id", String(40), primary_key=True),
    Column("key_hash", LargeBinary(32), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("touched_at", Float, nullable=False),
)
Index("dict_entries_by_age", dict_entries.c.touched_at)


def _delete_entries(conn: Any, dict_id: str) -> None:
    conn.execute(delete(dict_entries).where(dict_entries.c.dict_id == dict_id))


DICTS = Objects("dict", dicts, "di", on_delete=_delete_entries)


def _refresh_after(ttl: float) -> float:
    return min(3600.0, ttl / 100)


def _key(params: dict[str, Any]) -> tuple[bytes, bytes]:
    key = params["key"]
    if not isinstance(key, bytes | bytearray):
        raise InvalidError("a Dict key must arrive pickled (bytes)")
    if len(key) > MAX_OBJECT_BYTES:
        raise RequestSizeError(f"a Dict key is over the {MAX_OBJECT_BYTES:,}-byte limit")
    return bytes(key), hashlib.sha256(key).digest()


def _value(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise InvalidError("a Dict value must arrive pickled (bytes)")
    if len(value) > MAX_OBJECT_BYTES:
        raise RequestSizeError(f"a Dict value is over the {MAX_OBJECT_BYTES:,}-byte limit")
    return bytes(value)


def _require(store: Any, cur: Any, dict_id: str) -> None:
    cur.execute(store._sql("SELECT 1 FROM dicts WHERE id = ?"), (dict_id,))
    if cur.fetchone() is None:
        raise NotFoundError(f"the dict {dict_id!r} does not exist (was it deleted?)")


def _sweep(store: Any, cur: Any) -> None:
    if due(store, "dict_entries", SWEEP_EVERY_S):
        cur.execute(
            store._sql("DELETE FROM dict_entries WHERE touched_at < ?"),
            (time.time() - ENTRY_TTL_S,),
        )


# -- reads ---------------------------------------------------------------------------------------
def _read(store: Any, params: dict[str, Any], remove: bool) -> bytes | None:
    """The live value of a key (refreshing its time, or removing it), else None."""
    dict_id = params["id"]
    key, key_hash = _key(params)
    now = time.time()
    ttl = ENTRY_TTL_S
    with store._cursor() as cur:
        cur.execute(
            store._sql(
                "SELECT value, touched_at FROM dict_entries WHERE dict_id = ? AND key_hash = ?"
            ),
            (dict_id, key_hash),
        )
        row = cur.fetchone()
        if row is None or row[1] < now - ttl:
            _require(store, cur, dict_id)
            return None
        if remove:
            cur.execute(
                store._sql("DELETE FROM dict_entries WHERE dict_id = ? AND key_hash = ?"),
                (dict_id, key_hash),
            )
        elif now - row[1] > _refresh_after(ttl):
            cur.execute(
                store._sql(
                    "UPDATE dict_entries SET touched_at = ? WHERE dict_id = ? AND key_hash = ?"
                ),
                (now, dict_id, key_hash),
            )
        return as_bytes(row[0])


def dict_get(plane: Any, params: dict[str, Any]) -> bytes | None:
    return _read(plane.store, params, remove=False)


def dict_contains(plane: Any, params: dict[str, Any]) -> bool:
    return _read(plane.store, params, remove=False) is not None


def dict_pop(plane: Any, params: dict[str, Any]) -> bytes | None:
    return _read(plane.store, params, remove=True)


def dict_len(plane: Any, params: dict[str, Any]) -> int:
    store = plane.store
    with store._cursor() as cur:
        _require(store, cur, params["id"])
        cur.execute(
            store._sql("SELECT COUNT(*) FROM dict_entries WHERE dict_id = ? AND touched_at >= ?"),
            (params["id"], time.time() - ENTRY_TTL_S),
        )
        return int(cur.fetchone()[0])


def dict_scan(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One page of entries in key-hash order, after the cursor ``after``."""
    store = plane.store
    what = params.get("what", "items")
    if what not in ("keys", "values", "items"):
        raise InvalidError(f"unknown scan {what!r}")
    columns = {"keys": "key", "values": "value", "items": "key, value"}[what]
    after = params.get("after") or b""
    entries: list[list[bytes]] = []
    size = 0
    with store._cursor() as cur:
        _require(store, cur, params["id"])
        cur.execute(
            store._sql(
                f"SELECT key_hash, {columns} FROM dict_entries"
                " WHERE dict_id = ? AND key_hash > ? AND touched_at >= ?"
                " ORDER BY key_hash LIMIT ?"
            ),
            (params["id"], after, time.time() - ENTRY_TTL_S, SCAN_PAGE_ENTRIES + 1),
        )
        for row in cur:
            if len(entries) == SCAN_PAGE_ENTRIES or (entries and size > SCAN_PAGE_BYTES):
                return {"entries": entries, "more": True}
            entry = [as_bytes(column) for column in row]
            size += sum(len(column) for column in entry)
            entries.append(entry)
    return {"entries": entries, "more": False}


# -- writes --------------------------------------------------------------------------------------
_UPSERT = (
    "INSERT INTO dict_entries (dict_id, key_hash, key, value, touched_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (dict_id, key_hash) DO UPDATE SET"
    " key = excluded.key, value = excluded.value, touched_at = excluded.touched_at"
)


def dict_put(plane: Any, params: dict[str, Any]) -> bool:
    """Store one entry; with ``skip_if_exists``, only when no live entry has the key."""
    store = plane.store
    key, key_hash = _key(params)
    value = _value(params["value"])
    now = time.time()
    row = (params["id"], key_hash, key, value, now)
    with store._cursor() as cur:
        _require(store, cur, params["id"])
        if params.get("skip_if_exists"):
            cur.execute(
                store._sql(_UPSERT + " WHERE dict_entries.touched_at < ?"),
                (*row, now - ENTRY_TTL_S),
            )
            stored = cur.rowcount > 0
        else:
            cur.execute(store._sql(_UPSERT), row)
            stored = True
        _sweep(store, cur)
    return stored


def dict_update(plane: Any, params: dict[str, Any]) -> None:
    store = plane.store
    items = params.get("items") or []
    if len(items) > MAX_UPDATE_ENTRIES:
        raise RequestSizeError(f"an update carries over {MAX_UPDATE_ENTRIES:,} entries")
    now = time.time()
    rows = []
    for key, value in items:
        key, key_hash = _key({"key": key})
        rows.append((params["id"], key_hash, key, _value(value), now))
    with store._cursor() as cur:
        _require(store, cur, params["id"])
        if rows:
            cur.executemany(store._sql(_UPSERT), rows)
        _sweep(store, cur)


def dict_clear(plane: Any, params: dict[str, Any]) -> None:
    store = plane.store
    with store._cursor() as cur:
        _require(store, cur, params["id"])
        cur.execute(store._sql("DELETE FROM dict_entries WHERE dict_id = ?"), (params["id"],))


# -- the objects themselves ----------------------------------------------------------------------
def dict_lookup(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return DICTS.lookup(plane.store, params["name"], bool(params.get("create_if_missing")))


def dict_create(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return DICTS.create(plane.store, params["name"], bool(params.get("allow_existing")))


def dict_ephemeral(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return DICTS.create(plane.store, None)


def dict_delete(plane: Any, params: dict[str, Any]) -> bool:
    return DICTS.delete(
        plane.store,
        name=params.get("name"),
        object_id=params.get("id"),
        allow_missing=bool(params.get("allow_missing")),
    )


def dict_list(plane: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = DICTS.list(plane.store, params.get("max_objects"), params.get("created_before"))
    return [public(row) for row in rows]


def dict_info(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return public(DICTS.get(plane.store, params["id"]))


RPC.update(
    {
        "dict.lookup": dict_lookup,
        "dict.create": dict_create,
        "dict.ephemeral": dict_ephemeral,
        "dict.delete": dict_delete,
        "dict.list": dict_list,
        "dict.info": dict_info,
        "dict.get": dict_get,
        "dict.contains": dict_contains,
        "dict.pop": dict_pop,
        "dict.len": dict_len,
        "dict.scan": dict_scan,
        "dict.put": dict_put,
        "dict.update": dict_update,
        "dict.clear": dict_clear,
    }
)
