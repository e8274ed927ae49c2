"""``strato.Dict``: a key-value store in the control plane, reachable from anywhere.

Keys and values are cloudpickled here, in the client, and stored as bytes; the control plane
never unpickles them. Each method is one request/response on the client's session (the RPC
fast path), blocking or as ``.aio``. An entry expires after 7 days without a read or a write,
as on Modal.

This module also holds the machinery :class:`strato.Queue` and :class:`strato.Secret` share:
an operation is written once, as a generator that yields the control-plane calls it needs
(:class:`_Call`), and runs blocking or on an event loop through :func:`live`.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple, TypeVar

from strato._serialization import PROTOCOL, dumps, loads
from strato.exception import InvalidError, RequestSizeError
from strato.function import _Dual

#: Modal's limits: one pickled key or value, and the entries one ``update`` may carry.
MAX_OBJECT_BYTES = 100 * 1024 * 1024
MAX_UPDATE_ENTRIES = 10_000
#: Modal's rule for object names (shorter than this, letters, digits, ``-``, ``.``, ``_``).
MAX_NAME_LENGTH = 64
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")

T = TypeVar("T")


# -- the shared machinery ------------------------------------------------------------------------
class _Call(NamedTuple):
    """One control-plane call an operation needs; ``bound`` adds the object's id to params."""

    method: str
    params: dict[str, Any]
    bound: bool = True


class _Emit(NamedTuple):
    """A value an iterating operation hands to its caller."""

    value: Any


Op = Generator[Any, Any, Any]


def check_name(kind: str, name: Any) -> str:
    """Modal's object-name rule, checked before anything is sent."""
    if not isinstance(name, str) or not name:
        raise InvalidError(f"a {kind} name must be a non-empty str, got {name!r}")
    if len(name) >= MAX_NAME_LENGTH or not set(name) <= _NAME_CHARS:
        raise InvalidError(
            f"invalid {kind} name {name!r}: names are shorter than {MAX_NAME_LENGTH} characters"
            " and contain only letters, digits, '-', '.' and '_'"
        )
    return name


_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


def _dumps(value: Any) -> bytes:
    # Plain pickle writes the same bytes as cloudpickle for built-in scalars and flat tuples of
    # them (a Dict key's identity), at a fraction of the cost of building a CloudPickler.
    kind = type(value)
    if kind in _SCALARS or (kind is tuple and all(type(v) in _SCALARS for v in value)):
        return pickle.dumps(value, protocol=PROTOCOL)
    return dumps(value)


def encode(value: Any, what: str, limit: int | None = None) -> bytes:
    """Pickle ``value``, refusing it here, before sending, when it is over ``limit`` bytes
    (default: :data:`MAX_OBJECT_BYTES`)."""
    data = _dumps(value)
    if limit is None:
        limit = MAX_OBJECT_BYTES
    if len(data) > limit:
        raise RequestSizeError(
            f"{what} is {len(data):,} bytes when serialized; the limit is {limit:,} bytes"
        )
    return data


def default_client(client: Any = None) -> Any:
    """``client``, else the process-wide one (looked up on each call: tests replace it)."""
    if client is not None:
        return client
    from strato.client import Client

    return Client.from_env()


def to_timestamp(when: datetime | str | None) -> float | None:
    """``created_before`` as a POSIX time: a datetime or an ISO 8601 date or time."""
    if when is None:
        return None
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class _NamedObject:
    """A Dict, Queue or Secret: found by name (lazily) or by id, hydrated on first use."""

    _kind: ClassVar[str] = ""

    def __init__(
        self,
        name: str | None = None,
        object_id: str | None = None,
        *,
        create_if_missing: bool = False,
        client: Any = None,
    ) -> None:
        self._name = name
        self._object_id = object_id
        self._create_if_missing = create_if_missing
        self._client = client
        self._created_at: float | None = None

    def __repr__(self) -> str:
        label = self._name or self._object_id or "unhydrated"
        return f"{type(self).__name__}({label!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # the client stays behind: the receiving process uses its own
        return (_restore, (type(self), self._name, self._object_id, self._create_if_missing))

    @property
    def name(self) -> str | None:
        """The name, or None for an ephemeral object."""
        return self._name

    @property
    def object_id(self) -> str:
        """The control plane's id (hydrates the object first)."""
        if self._object_id is None:
            run(default_client(self._client), self, self._op_hydrate())
        assert self._object_id is not None
        return self._object_id

    def _lookup_call(self) -> _Call:
        if self._name is None:
            raise InvalidError(f"this {self._kind} has no name and no id")
        return _Call(
            f"{self._kind}.lookup",
            {"name": self._name, "create_if_missing": self._create_if_missing},
            False,
        )

    def _hydrated(self, info: dict[str, Any]) -> None:
        self._object_id = info["id"]
        self._name = info.get("name", self._name)
        self._created_at = info.get("created_at")

    def _params(self, client: Any, call: _Call) -> dict[str, Any]:
        if not call.bound:
            return call.params
        if self._object_id is None:
            lookup = self._lookup_call()
            self._hydrated(client.rpc(lookup.method, lookup.params))
        return {**call.params, "id": self._object_id}

    async def _params_async(self, client: Any, call: _Call) -> dict[str, Any]:
        if not call.bound:
            return call.params
        if self._object_id is None:
            lookup = self._lookup_call()
            self._hydrated(await client.rpc_async(lookup.method, lookup.params))
        return {**call.params, "id": self._object_id}

    def _op_hydrate(self) -> Op:
        if self._object_id is None:
            self._hydrated((yield self._lookup_call()))
        return self

    def _op_info(self) -> Op:
        info = yield _Call(f"{self._kind}.info", {})
        return ObjectInfo(info.get("name"), _when(info["created_at"]), None)


def _restore(cls: type, name: str | None, object_id: str | None, create: bool) -> Any:
    return cls(name, object_id, create_if_missing=create)


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True)
class ObjectInfo:
    """What ``info()`` returns for a Dict, Queue or Secret (Modal's ``DictInfo`` and kin)."""

    name: str | None
    created_at: datetime | None
    created_by: str | None


def run(client: Any, obj: _NamedObject | None, op: Op) -> Any:
    """Run an operation here, waiting on each call."""
    answer = None
    while True:
        try:
            step = op.send(answer)
        except StopIteration as stop:
            return stop.value
        params = obj._params(client, step) if obj is not None else step.params
        answer = client.rpc(step.method, params)


async def run_async(client: Any, obj: _NamedObject | None, op: Op) -> Any:
    """Run an operation on the running event loop."""
    answer = None
    while True:
        try:
            step = op.send(answer)
        except StopIteration as stop:
            return stop.value
        params = await obj._params_async(client, step) if obj is not None else step.params
        answer = await client.rpc_async(step.method, params)


def iterate(client: Any, obj: _NamedObject, op: Op) -> Iterator[Any]:
    """Run an iterating operation, yielding what it emits."""
    answer = None
    while True:
        try:
            step = op.send(answer)
        except StopIteration:
            return
        if isinstance(step, _Emit):
            answer = None
            yield step.value
        else:
            answer = client.rpc(step.method, obj._params(client, step))


async def iterate_async(client: Any, obj: _NamedObject, op: Op) -> AsyncIterator[Any]:
    answer = None
    while True:
        try:
            step = op.send(answer)
        except StopIteration:
            return
        if isinstance(step, _Emit):
            answer = None
            yield step.value
        else:
            answer = await client.rpc_async(step.method, await obj._params_async(client, step))


def live(op: Callable[..., Op]) -> _Dual:
    """A method from an operation: ``obj.m(...)`` blocks, ``await obj.m.aio(...)`` does not."""

    def blocking(self: _NamedObject, *args: Any, **kwargs: Any) -> Any:
        return run(default_client(self._client), self, op(self, *args, **kwargs))

    async def asynchronous(self: _NamedObject, *args: Any, **kwargs: Any) -> Any:
        return await run_async(default_client(self._client), self, op(self, *args, **kwargs))

    blocking.__doc__ = asynchronous.__doc__ = op.__doc__
    blocking.__name__ = asynchronous.__name__ = op.__name__.removeprefix("_op_")
    return _Dual(blocking, asynchronous)


def live_iterator(op: Callable[..., Op]) -> _Dual:
    """An iterating method: ``for x in obj.m()`` or ``async for x in obj.m.aio()``."""

    def blocking(self: _NamedObject, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iterate(default_client(self._client), self, op(self, *args, **kwargs))

    def asynchronous(self: _NamedObject, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return iterate_async(default_client(self._client), self, op(self, *args, **kwargs))

    blocking.__doc__ = asynchronous.__doc__ = op.__doc__
    blocking.__name__ = asynchronous.__name__ = op.__name__.removeprefix("_op_")
    return _Dual(blocking, asynchronous)


def _hydrate(self: _NamedObject, client: Any = None) -> Any:
    """Look the object up on the control plane now (it happens on first use anyway);
    ``client`` is then the one it uses."""
    if client is not None:
        self._client = client
    return run(default_client(self._client), self, self._op_hydrate())


async def _hydrate_async(self: _NamedObject, client: Any = None) -> Any:
    if client is not None:
        self._client = client
    return await run_async(default_client(self._client), self, self._op_hydrate())


class _StaticDual:
    """A function with an ``.aio`` form, for the ``objects`` namespaces."""

    def __init__(self, op: Callable[..., Op]) -> None:
        self._op = op
        self.__doc__ = op.__doc__

    def __call__(self, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        return run(default_client(client), None, self._op(*args, **kwargs))

    async def aio(self, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        return await run_async(default_client(client), None, self._op(*args, **kwargs))


class ObjectManager:
    """``X.objects``: create, list and delete named objects of one kind."""

    def __init__(self, cls: type[_NamedObject], create: Callable[..., Op] | None = None) -> None:
        kind = cls._kind

        def op_create(
            name: str, *, allow_existing: bool = False, environment_name: str | None = None
        ) -> Op:
            """Create a named object; an existing one is an error unless ``allow_existing``."""
            check_name(kind, name)
            yield _Call(f"{kind}.create", {"name": name, "allow_existing": allow_existing}, False)

        def op_list(
            *,
            max_objects: int | None = None,
            created_before: datetime | str | None = None,
            environment_name: str = "",
        ) -> Op:
            """The named objects, newest first, hydrated."""
            params = {"max_objects": max_objects, "created_before": to_timestamp(created_before)}
            rows = yield _Call(f"{kind}.list", params, False)
            found = []
            for row in rows:
                obj = cls(row["name"], row["id"])
                obj._created_at = row["created_at"]
                found.append(obj)
            return found

        def op_delete(
            name: str, *, allow_missing: bool = False, environment_name: str | None = None
        ) -> Op:
            """Delete a named object and everything in it (irreversible)."""
            check_name(kind, name)
            yield _Call(f"{kind}.delete", {"name": name, "allow_missing": allow_missing}, False)

        self.create = _StaticDual(create or op_create)
        self.list = _StaticDual(op_list)
        self.delete = _StaticDual(op_delete)


class _Ephemeral:
    """``with X.ephemeral() as x:`` (or ``async with``): an anonymous object for the block."""

    def __init__(self, cls: type[_NamedObject], client: Any, fill: Callable[[Any], Op] | None):
        self._cls = cls
        self._client = client
        self._fill = fill
        self._obj: Any = None

    def _op_create(self) -> Op:
        info = yield _Call(f"{self._cls._kind}.ephemeral", {}, False)
        self._obj = self._cls(None, info["id"], client=self._client)
        self._obj._created_at = info["created_at"]
        return self._obj

    def _op_exit(self) -> Op:
        yield _Call(f"{self._cls._kind}.delete", {"allow_missing": True})

    def __enter__(self) -> Any:
        client = default_client(self._client)
        obj = run(client, None, self._op_create())
        if self._fill is not None:
            run(client, obj, self._fill(obj))
        return obj

    def __exit__(self, *_exc: Any) -> None:
        run(default_client(self._client), self._obj, self._op_exit())

    async def __aenter__(self) -> Any:
        client = default_client(self._client)
        obj = await run_async(client, None, self._op_create())
        if self._fill is not None:
            await run_async(client, obj, self._fill(obj))
        return obj

    async def __aexit__(self, *_exc: Any) -> None:
        await run_async(default_client(self._client), self._obj, self._op_exit())


# -- Dict ----------------------------------------------------------------------------------------
_MISSING = object()


class Dict(_NamedObject):
    """A distributed dictionary: ``Dict.from_name("kv", create_if_missing=True)[k] = v``.

    Unlike a Python dict, a value read back is a copy: changing it changes nothing stored until
    it is put back. Iteration order is unspecified.
    """

    _kind = "dict"
    objects: ClassVar[ObjectManager]

    @staticmethod
    def from_name(
        name: str, *, environment_name: str | None = None, create_if_missing: bool = False
    ) -> Dict:
        """A named Dict, looked up (or created) on first use."""
        return Dict(check_name("dict", name), create_if_missing=create_if_missing)

    @classmethod
    def ephemeral(
        cls,
        data: dict[Any, Any] | None = None,
        client: Any = None,
        environment_name: str | None = None,
    ) -> _Ephemeral:
        """An anonymous Dict that lives for a ``with`` (or ``async with``) block.

        ``data`` (deprecated, as on Modal) fills it at the start.
        """
        fill = None
        if data:
            encoded = _encode_items(data)

            def fill(obj: Any) -> Op:
                yield _Call("dict.update", {"items": encoded})

        return _Ephemeral(cls, client, fill)

    @staticmethod
    def delete(name: str, *, client: Any = None, environment_name: str | None = None) -> None:
        """Delete a named Dict (deprecated on Modal: use ``Dict.objects.delete``)."""
        Dict.objects.delete(name, client=client)

    hydrate = _Dual(_hydrate, _hydrate_async)
    info = live(_NamedObject._op_info)

    def _op_get(self, key: Any, default: Any = None) -> Op:
        """The value stored under ``key``, or ``default``."""
        data = yield _Call("dict.get", {"key": encode(key, "a Dict key")})
        return default if data is None else loads(data)

    def _op_contains(self, key: Any) -> Op:
        """Whether ``key`` is present."""
        return bool((yield _Call("dict.contains", {"key": encode(key, "a Dict key")})))

    def _op_len(self) -> Op:
        """The number of entries (an expensive operation on large Dicts)."""
        return int((yield _Call("dict.len", {})))

    def _op_put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> Op:
        """Store ``value`` under ``key``; with ``skip_if_exists``, keep an existing value.

        Returns whether the value was stored.
        """
        params = {
            "key": encode(key, "a Dict key"),
            "value": encode(value, "a Dict value"),
            "skip_if_exists": skip_if_exists,
        }
        return bool((yield _Call("dict.put", params)))

    def _op_update(self, other: Mapping[Any, Any] | None = None, /, **kwargs: Any) -> Op:
        """Store several entries at once (at most 10,000)."""
        items = dict(other or {})
        items.update(kwargs)
        yield _Call("dict.update", {"items": _encode_items(items)})

    def _op_pop(self, key: Any, default: Any = _MISSING) -> Op:
        """Remove ``key`` and return its value (``KeyError`` when missing, as with dict.pop)."""
        data = yield _Call("dict.pop", {"key": encode(key, "a Dict key")})
        if data is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return loads(data)

    def _op_clear(self) -> Op:
        """Remove every entry."""
        yield _Call("dict.clear", {})

    def _op_scan(self, what: str) -> Op:
        after = None
        while True:
            page = yield _Call("dict.scan", {"what": what, "after": after})
            for entry in page["entries"]:  # [cursor, key or value] or [cursor, key, value]
                if what == "items":
                    yield _Emit((loads(entry[1]), loads(entry[2])))
                else:
                    yield _Emit(loads(entry[1]))
            if not page["more"]:
                return
            after = page["entries"][-1][0]

    def _op_keys(self) -> Op:
        """An iterator over the keys (unordered)."""
        return self._op_scan("keys")

    def _op_values(self) -> Op:
        """An iterator over the values (unordered)."""
        return self._op_scan("values")

    def _op_items(self) -> Op:
        """An iterator over ``(key, value)`` pairs (unordered)."""
        return self._op_scan("items")

    get = live(_op_get)
    contains = live(_op_contains)
    len = live(_op_len)
    put = live(_op_put)
    update = live(_op_update)
    pop = live(_op_pop)
    clear = live(_op_clear)
    keys = live_iterator(_op_keys)
    values = live_iterator(_op_values)
    items = live_iterator(_op_items)

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def __contains__(self, key: Any) -> bool:
        return bool(self.contains(key))


def _encode_items(items: Mapping[Any, Any]) -> list[list[bytes]]:
    if len(items) > MAX_UPDATE_ENTRIES:
        raise RequestSizeError(
            f"an update carries {len(items):,} entries; the limit is {MAX_UPDATE_ENTRIES:,}"
        )
    return [[encode(k, "a Dict key"), encode(v, "a Dict value")] for k, v in items.items()]


Dict.objects = ObjectManager(Dict)

__all__ = ["Dict", "ObjectInfo"]
