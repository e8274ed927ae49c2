"""What a running input knows about itself."""

from __future__ import annotations

import contextvars

_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "strato_input_id", default=None
)
_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "strato_call_id", default=None
)


def current_input_id() -> str | None:
    """The id of the input being run, inside a container (None elsewhere)."""
    return _input_id.get()


def current_function_call_id() -> str | None:
    """The id of the call the running input belongs to, inside a container (None elsewhere)."""
    return _call_id.get()
