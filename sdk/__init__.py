"""Strato: run Python functions on your own clouds, with Modal's programming model.

Write ``import strato`` where a Modal program says ``import modal``. Names load on first use,
so tools that only need a corner of the package (the CLI's help, a container's agent) stay
fast to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "App": "strato.app",
    "LocalEntrypoint": "strato.app",
    "is_local": "strato.app",
    "Cls": "strato.cls",
    "Obj": "strato.cls",
    "Function": "strato.function",
    "FunctionCall": "strato.function",
    "concurrent": "strato.partial",
    "enter": "strato.partial",
    "exit": "strato.partial",
    "method": "strato.partial",
    "parameter": "strato.partial",
    "Retries": "strato.retries",
    "current_function_call_id": "strato.runtime.context",
    "current_input_id": "strato.runtime.context",
    "Cron": "strato.schedule",
    "Period": "strato.schedule",
    "Image": "strato.image",
    "FilePatternMatcher": "strato.image",
    "Volume": "strato.volume",
    "CloudBucketMount": "strato.cloud_bucket_mount",
    "Dict": "strato.dict",
    "Queue": "strato.queue",
    "Secret": "strato.secret",
}

__all__ = sorted([*_EXPORTS, "exception"])


def __getattr__(name: str) -> Any:
    if name == "exception":
        return importlib.import_module("strato.exception")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'strato' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from strato import exception  # noqa: F401
    from strato.app import App, LocalEntrypoint, is_local  # noqa: F401
    from strato.cls import Cls, Obj  # noqa: F401
    from strato.function import Function, FunctionCall  # noqa: F401
    from strato.partial import concurrent, enter, exit, method, parameter  # noqa: F401
    from strato.retries import Retries  # noqa: F401
    from strato.runtime.context import current_function_call_id, current_input_id  # noqa: F401
    from strato.schedule import Cron, Period  # noqa: F401
