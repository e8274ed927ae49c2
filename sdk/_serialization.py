"""Turning arguments, results and exceptions into bytes and back.

The only module that imports cloudpickle. Loading uses the standard ``pickle`` (cloudpickle's
output is ordinary pickle data), so a container that only receives values never pays for
importing cloudpickle.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import Any

from strato.exception import DeserializationError, SerializationError

PROTOCOL = 5
#: The module name under which a container loads the user's script; the caller maps it back
#: to its own ``__main__`` so classes defined in a script arrive as the same class.
MAIN_ALIAS = "__strato_main__"


def dumps(obj: Any) -> bytes:
    """Serialize with cloudpickle (functions and classes from ``__main__`` by value)."""
    import cloudpickle

    return cloudpickle.dumps(obj, protocol=PROTOCOL)


def dumps_by_value(obj: Any) -> bytes:
    """Serialize a function or class with its module's code by value, so a machine without
    the module (a cloud VM) can load it (``serialized=True``)."""
    import cloudpickle

    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is None or module.__name__ in ("__main__", MAIN_ALIAS):
        return dumps(obj)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(obj, protocol=PROTOCOL)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def loads(data: bytes) -> Any:
    """Deserialize, turning failures into :class:`DeserializationError`."""
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise DeserializationError(f"could not deserialize a value: {exc!r}") from exc


def serialize_args(args: tuple, kwargs: dict[str, Any]) -> bytes:
    """Serialize one call's arguments; an unpicklable one is named in the error."""
    try:
        return dumps((args, kwargs))
    except Exception as exc:
        for position, value in enumerate(args):
            if not _picklable(value):
                raise SerializationError(
                    f"argument {position} ({type(value).__name__}) cannot be serialized: {exc}"
                ) from exc
        for name, value in kwargs.items():
            if not _picklable(value):
                raise SerializationError(
                    f"argument {name!r} ({type(value).__name__}) cannot be serialized: {exc}"
                ) from exc
        raise SerializationError(f"arguments cannot be serialized: {exc}") from exc


def _picklable(value: Any) -> bool:
    try:
        dumps(value)
    except Exception:
        return False
    return True


def serialize_result(value: Any) -> bytes:
    """Serialize a return value: plain pickle first (fast), cloudpickle when that fails."""
    try:
        return pickle.dumps(value, protocol=PROTOCOL)
    except Exception:
        return dumps(value)


class RemoteTraceback(Exception):
    """Carries the formatted traceback of an exception raised in a container."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return "\n\n" + self.tb


def _rebuild_exception(
    cls: type[BaseException], args: tuple, state: dict[str, Any]
) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class _ExceptionByState:
    """Pickles an exception as class, args and attributes, without calling its constructor
    (``__init__(self, a, b)`` that stores ``args=(message,)`` cannot be replayed)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self) -> tuple[Any, ...]:
        state = {k: v for k, v in vars(self.exc).items() if not k.startswith("__")}
        return (_rebuild_exception, (type(self.exc), self.exc.args, state))


def serialize_exception(exc: BaseException) -> bytes:
    """Serialize an exception with its formatted traceback, surviving unpicklable ones."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    payload: bytes | None = None
    for candidate in (exc, _ExceptionByState(exc)):
        try:
            payload = serialize_result(candidate)
            pickle.loads(payload)  # a constructor that cannot be replayed fails here
            break
        except Exception:
            payload = None
    return pickle.dumps(
        {"exc": payload, "type": type(exc).__qualname__, "repr": repr(exc), "tb": tb},
        protocol=PROTOCOL,
    )


def deserialize_exception(data: bytes) -> BaseException:
    """Rebuild a remote exception with its traceback chained as ``__cause__``."""
    from strato.exception import ExecutionError

    info = pickle.loads(data)
    exc: BaseException | None = None
    if info["exc"] is not None:
        try:
            exc = pickle.loads(info["exc"])
        except Exception:
            exc = None
    if exc is None:
        exc = ExecutionError(f"{info['type']}: {info['repr']} (it could not be rebuilt here)")
    exc.__cause__ = RemoteTraceback(info["tb"])
    return exc
