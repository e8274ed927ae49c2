"""What secrets, dicts and queues share on the control plane: names, rows, sweeps, a direct client.

Each of these kinds keeps one row per object in a table of its own (:func:`object_table`):
an id, an optional name (``None`` for ephemeral objects, which are reached by id only) and a
creation time. The helpers here create, look up, list and delete such rows with Modal's rules:
names are shorter than 64 characters of letters, digits, ``-``, ``.`` and ``_``; an
environment name is accepted and ignored (a control plane has one environment).

:class:`DirectClient` runs the RPC handlers of :data:`strato.core.objects.RPC` on a
:class:`~strato.core.store.Store` in this process, with no server: the CLI uses it in embedded
mode so that ``strato dict get`` costs a database open, not a control plane start.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Float, String, Table, delete, insert, select

from strato.core.schema import metadata
from strato.exception import AlreadyExistsError, InvalidError, NotFoundError

MAX_NAME_LENGTH = 64  # names must be shorter than this
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_name(kind: str, name: Any) -> str:
    """Modal's object-name rule; the error names the kind and the rule."""
    if not isinstance(name, str) or not name:
        raise InvalidError(f"a {kind} name must be a non-empty str, got {name!r}")
    if len(name) >= MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise InvalidError(
            f"invalid {kind} name {name!r}: names are shorter than {MAX_NAME_LENGTH} characters"
            " and contain only letters, digits, '-', '.' and '_'"
        )
    return name


def object_table(table_name: str, *extra: Column[Any]) -> Table:
    """A table of named objects: ``id``, ``name`` (unique, NULL when ephemeral), ``created_at``."""
    return Table(
        table_name,
        metadata,
        Column("id", String(40), primary_key=True),
        Column("name", String(MAX_NAME_LENGTH), nullable=True, unique=True),
        Column("created_at", Float, nullable=False),
        *extra,
    )


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def public(row: Any) -> dict[str, Any]:
    """What a client learns about an object."""
    return {"id": row.id, "name": row.name, "created_at": row.created_at}


class Objects:
    """Create, look up, list and delete the rows of one object table.

    ``on_delete(conn, object_id)`` removes an object's contents in the same transaction.
    """

    def __init__(
        self,
        kind: str,
        table: Table,
        prefix: str,
        on_delete: Callable[[Any, str], None] | None = None,
    ) -> None:
        self.kind = kind
        self.table = table
        self.prefix = prefix
        self.on_delete = on_delete

    def _by_name(self, conn: Any, name: str) -> Any:
        return conn.execute(select(self.table).where(self.table.c.name == name)).first()

    def create(
        self, store: Any, name: str | None, allow_existing: bool = False, **values: Any
    ) -> dict[str, Any]:
        """A new object (``name=None``: an ephemeral one); an existing name is an error
        unless ``allow_existing``, in which case the existing object is returned unchanged."""
        if name is not None:
            check_name(self.kind, name)
        row_values = {"id": new_id(self.prefix), "name": name, "created_at": time.time()}
        row_values.update(values)
        with store.engine.begin() as conn:
            if name is not None:
                existing = self._by_name(conn, name)
                if existing is not None:
                    if allow_existing:
                        return public(existing)
                    raise AlreadyExistsError(f"a {self.kind} named {name!r} already exists")
            conn.execute(store._insert_ignore(self.table).values(**row_values))
            row = conn.execute(
                select(self.table).where(self.table.c.id == row_values["id"])
            ).first()
            if row is None:  # another writer took the name between our check and insert
                existing = self._by_name(conn, name or "")
                if existing is not None and allow_existing:
                    return public(existing)
                raise AlreadyExistsError(f"a {self.kind} named {name!r} already exists")
        return public(row)

    def lookup(self, store: Any, name: str, create_if_missing: bool = False) -> dict[str, Any]:
        """The object named ``name``, created first when asked to."""
        check_name(self.kind, name)
        with store.engine.connect() as conn:
            row = self._by_name(conn, name)
        if row is not None:
            return public(row)
        if not create_if_missing:
            raise NotFoundError(f"no {self.kind} named {name!r}")
        return self.create(store, name, allow_existing=True)

    def get(self, store: Any, object_id: str) -> Any:
        """The row of an object by id; a deleted object is a :class:`NotFoundError`."""
        with store.engine.connect() as conn:
            row = conn.execute(select(self.table).where(self.table.c.id == object_id)).first()
        if row is None:
            raise NotFoundError(f"the {self.kind} {object_id!r} does not exist (was it deleted?)")
        return row

    def list(
        self, store: Any, max_objects: int | None = None, created_before: float | None = None
    ) -> list[Any]:
        """Named objects, newest first."""
        query = (
            select(self.table)
            .where(self.table.c.name.is_not(None))
            .order_by(self.table.c.created_at.desc())
        )
        if created_before is not None:
            query = query.where(self.table.c.created_at < created_before)
        if max_objects is not None:
            query = query.limit(max_objects)
        with store.engine.connect() as conn:
            return list(conn.execute(query))

    def delete(
        self,
        store: Any,
        name: str | None = None,
        object_id: str | None = None,
        allow_missing: bool = False,
    ) -> bool:
        """Delete an object and its contents, by name or by id; True when one was deleted."""
        with store.engine.begin() as conn:
            if object_id is None:
                check_name(self.kind, name)
                row = self._by_name(conn, name or "")
                object_id = row.id if row is not None else None
            if object_id is not None:
                gone = conn.execute(delete(self.table).where(self.table.c.id == object_id))
                if gone.rowcount:
                    if self.on_delete is not None:
                        self.on_delete(conn, object_id)
                    return True
        if allow_missing:
            return False
        raise NotFoundError(f"no {self.kind} named {name or object_id!r}")

    def insert_row(self, conn: Any, **values: Any) -> None:
        conn.execute(insert(self.table).values(**values))


def exists(store: Any, table: str, object_id: str) -> bool:
    """Whether the object row is there: one primary-key probe on the raw connection."""
    with store._cursor() as cur:
        cur.execute(store._sql(f"SELECT 1 FROM {table} WHERE id = ?"), (object_id,))
        return cur.fetchone() is not None


def as_bytes(value: Any) -> bytes:
    """PostgreSQL drivers return ``memoryview`` for binary columns."""
    return value if isinstance(value, bytes) else bytes(value)


# -- sweeps of expired contents ------------------------------------------------------------------
_last_sweep: weakref.WeakKeyDictionary[Any, dict[str, float]] = weakref.WeakKeyDictionary()


def due(store: Any, what: str, every_s: float) -> bool:
    """True at most once per ``every_s`` per store and ``what``: throttles lazy sweeps."""
    now = time.monotonic()
    marks = _last_sweep.setdefault(store, {})
    if now - marks.get(what, float("-inf")) < every_s:
        return False
    marks[what] = now
    return True


# -- running the handlers without a server -------------------------------------------------------
class DirectPlane:
    """The part of a control plane the object handlers use: its store."""

    def __init__(self, store: Any) -> None:
        self.store = store


class DirectClient:
    """A client whose ``rpc`` calls the object handlers in this process, on ``store``."""

    is_embedded = True

    def __init__(self, store: Any) -> None:
        self.plane = DirectPlane(store)

    @classmethod
    def for_local_database(cls) -> DirectClient:
        """This machine's control-plane database (``STRATO_DATABASE_URL``, else the data dir)."""
        from strato.core.service import database_url
        from strato.core.store import Store, make_engine

        return cls(Store(make_engine(database_url())))

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        from strato.core.objects import RPC, load

        load()
        handler = RPC.get(method)
        if handler is None:
            raise InvalidError(f"unknown operation {method!r}")
        return handler(self.plane, params)

    def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        result = self._call(method, params)
        if asyncio.iscoroutine(result):
            return asyncio.run(result)
        return result

    async def rpc_async(self, method: str, params: dict[str, Any]) -> Any:
        result = self._call(method, params)
        if asyncio.iscoroutine(result):
            return await result
        return result


@contextmanager
def cli_client() -> Iterator[Any]:
    """The client the CLI uses: the server in ``STRATO_SERVER_URL``, else a direct one."""
    import os

    if os.environ.get("STRATO_SERVER_URL"):
        from strato.client import Client

        yield Client.from_env()
        return
    client = DirectClient.for_local_database()
    try:
        yield client
    finally:
        client.plane.store.engine.dispose()
