"""``@app.cls``: classes whose methods run in containers, one instance per container.

``Model(param=1)`` gives an :class:`Obj` bound to those parameters; each distinct set of
parameters runs on its own containers, where the class is instantiated once and its
``@enter`` hooks run once before any method call.
"""

from __future__ import annotations

import inspect
import pickle
import threading
from typing import TYPE_CHECKING, Any

from strato.exception import InvalidError
from strato.function import Function
from strato.partial import bind_parameters, flags_of

if TYPE_CHECKING:
    from strato.app import App


def _methods(user_cls: type) -> dict[str, dict[str, Any]]:
    found = {}
    for name, member in inspect.getmembers(user_cls, callable):
        flags = flags_of(member)
        if "method" in flags:
            found[name] = flags["method"]
    return found


class Cls:
    """A class registered with an App."""

    def __init__(self, app: App, user_cls: type, tag: str, options: dict[str, Any]) -> None:
        self._app = app
        self._user_cls = user_cls
        self._strato_raw = user_cls
        self._tag = tag
        self._options = options
        self._methods = _methods(user_cls)
        self._function_id: str | None = None
        self._bound_ids: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self.__doc__ = user_cls.__doc__
        self.__name__ = user_cls.__name__
        self.__qualname__ = user_cls.__qualname__
        self.__module__ = user_cls.__module__

    def __repr__(self) -> str:
        return f"<strato.Cls {self._tag}>"

    def __call__(self, **kwargs: Any) -> Obj:
        return Obj(self, bind_parameters(self._user_cls, kwargs))

    def _class_function_id(self) -> str:
        if self._function_id is None:
            self._function_id = self._app._lookup_function_id(self._tag)
        return self._function_id

    def _bound_id(self, params: dict[str, Any]) -> str:
        if not params:
            return self._class_function_id()
        key = pickle.dumps(sorted(params.items()))
        with self._lock:
            if key not in self._bound_ids:
                self._bound_ids[key] = self._app._register_bound(self, params)
            return self._bound_ids[key]


class Obj:
    """An instance of a registered class, bound to its parameters."""

    def __init__(self, cls: Cls, params: dict[str, Any]) -> None:
        self._cls = cls
        self._params = params
        self._local: Any = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{self._cls._tag}({args})"

    def _hydrated_id(self) -> str:
        return self._cls._bound_id(self._params)

    def __getattr__(self, name: str) -> Function[Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        cls = self.__dict__["_cls"]
        if name not in cls._methods:
            raise AttributeError(
                f"{cls._tag} has no method {name!r} marked with @strato.method(); "
                f"methods: {', '.join(cls._methods) or 'none'}"
            )
        raw = getattr(cls._user_cls, name)
        flagged = cls._methods[name].get("is_generator")
        is_generator = (
            flagged
            if flagged is not None
            else (inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw))
        )
        return Function(
            cls._app,
            raw,
            f"{cls._tag}.{name}",
            cls._options,
            is_generator=is_generator,
            method=name,
            bound_to=self,
        )

    def _local_instance(self) -> Any:
        """An instance in this process, for ``.local()``, with ``@enter`` hooks run once."""
        if self._local is None:
            from strato.runtime.runner import _hooks, _run_hook

            user_cls = self._cls._user_cls
            instance = user_cls.__new__(user_cls)
            for key, value in self._params.items():
                setattr(instance, key, value)
            if user_cls.__init__ is not object.__init__:
                instance.__init__()
            for hook in _hooks(user_cls, "enter"):
                _run_hook(instance, hook)
            self._local = instance
        return self._local


def check_class(user_cls: Any) -> None:
    """``@app.cls`` only takes a class with at least one ``@strato.method``."""
    if not inspect.isclass(user_cls):
        raise InvalidError(f"@app.cls() decorates a class, got {type(user_cls).__name__}")
    init = user_cls.__init__
    if init is not object.__init__ and len(inspect.signature(init).parameters) > 1:
        raise InvalidError(
            f"{user_cls.__name__} defines __init__ with arguments: declare them with "
            "strato.parameter() instead"
        )
