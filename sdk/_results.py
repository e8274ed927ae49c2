"""Turning an output (status and bytes) into a value or an exception for the caller."""

from __future__ import annotations

import pickle
from typing import Any

from strato import _protocol as proto
from strato._serialization import deserialize_exception
from strato.exception import DeserializationError, ExecutionError, InputCancellation


class UserCodeException(Exception):
    """Wraps an exception raised by user code, for ``map(return_exceptions=True)`` with
    ``wrap_returned_exceptions=True`` (Modal's historical default); ``.exc`` is the original."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


def decode_value(data: bytes | None) -> Any:
    try:
        return pickle.loads(data) if data is not None else None
    except Exception as exc:
        raise DeserializationError(
            f"could not deserialize the function's result ({exc!r}); is a package it needs "
            "missing here?"
        ) from exc


def decode_error(status: int, data: bytes | None) -> BaseException:
    """The exception an unsuccessful output stands for."""
    if status == proto.CANCELLED:
        return InputCancellation("the input was cancelled")
    if data is None:
        return ExecutionError(f"the input failed (status {status})")
    return deserialize_exception(data)


def decode(status: int, data: bytes | None) -> Any:
    """The value of a successful output, or raise the exception of a failed one."""
    if status == proto.SUCCESS:
        return decode_value(data)
    raise decode_error(status, data)
