"""Modules imported on first attribute access, for names only the ``.aio`` paths use.

Importing asyncio costs about 40 ms, a large share of a container's start-up; synchronous
code never touches it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return getattr(self._module, attribute)


asyncio: Any = _LazyModule("asyncio")
