"""Strato: run Python functions on your own clouds, with Modal's programming model.

Write ``import strato`` where a Modal program says ``import modal``.
"""

from strato import exception
from strato.app import App, LocalEntrypoint, is_local
from strato.cls import Cls, Obj
from strato.function import Function, FunctionCall
from strato.partial import concurrent, enter, exit, method, parameter
from strato.retries import Retries
from strato.runtime.context import current_function_call_id, current_input_id
from strato.schedule import Cron, Period

__version__ = "0.1.0"

__all__ = [
    "App",
    "Cls",
    "Cron",
    "Function",
    "FunctionCall",
    "LocalEntrypoint",
    "Obj",
    "Period",
    "Retries",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enter",
    "exception",
    "exit",
    "is_local",
    "method",
    "parameter",
]
