"""``strato.App``: a group of functions and classes that run together.

Decorating validates every argument at once; ``with app.run():`` (or ``strato run``) registers
the functions with a control plane, streams their containers' output to this terminal, and
stops the app on exit.
"""

from __future__ import annotations

import base64
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from strato import _protocol as proto
from strato._options import validate_options
from strato._serialization import MAIN_ALIAS, dumps, dumps_by_value
from strato.cls import Cls, check_class
from strato.exception import InvalidError, NotFoundError
from strato.function import Function
from strato.partial import flags_of


def is_local() -> bool:
    """True in the caller's process, False inside a container."""
    return "STRATO_CONTAINER_ID" not in os.environ


def _module_root(module_name: str, file: str) -> str:
    """The ``sys.path`` entry a module was imported from."""
    path = os.path.dirname(os.path.abspath(file))
    if os.path.basename(file) == "__init__.py":
        path = os.path.dirname(path)
    for _ in range(module_name.count(".")):
        path = os.path.dirname(path)
    return path


def describe(
    obj: Any, kind: str, options: dict[str, Any], force_pickle: bool = False
) -> dict[str, Any]:
    """How a container finds ``obj``: by module and qualified name, or pickled by value."""
    module_name = getattr(obj, "__module__", None) or "__main__"
    qualname = getattr(obj, "__qualname__", obj.__name__)
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    definition: dict[str, Any] = {
        "name": qualname,
        "kind": kind,
        "qualname": qualname,
        "module": None,
        "file": None,
        "pickled": None,
        "python_path": [],
        "options": options,
        "params": None,
        # a function pickled by value only loads in the same Python (bytecode differs)
        "python_version": f"{sys.version_info[0]}.{sys.version_info[1]}",
    }
    if force_pickle or "<locals>" in qualname or file is None or not os.path.exists(file):
        # no file a container could import (a notebook, stdin, a nested function): by value
        definition["pickled"] = dumps_by_value(obj) if force_pickle else dumps(obj)
        if file is not None and module_name not in ("__main__", MAIN_ALIAS):
            definition["python_path"] = [_module_root(module_name, file)]
        return definition
    if module_name in ("__main__", MAIN_ALIAS):
        definition["file"] = os.path.abspath(file)
        definition["python_path"] = [os.path.dirname(os.path.abspath(file))]
    else:
        definition["module"] = module_name
        definition["python_path"] = [_module_root(module_name, file)]
    return definition


class LocalEntrypoint:
    """A function ``strato run`` calls here, with the app running."""

    def __init__(self, app: App, raw_f: Callable[..., Any], name: str) -> None:
        self.app = app
        self.raw_f = raw_f
        self.name = name
        self.__doc__ = raw_f.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)


class App:
    """A group of functions and classes deployed together."""

    def __init__(
        self,
        name: str | None = None,
        *,
        image: Any = None,
        secrets: Sequence[Any] = (),
        volumes: dict[str, Any] | None = None,
        include_source: bool = True,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise InvalidError(f"App name must be a str, got {type(name).__name__}")
        self._name = name
        self._image = image
        self._secrets = list(secrets)
        self._volumes = dict(volumes or {})
        self._include_source = include_source
        self._functions: dict[str, Function[Any]] = {}
        self._classes: dict[str, Cls] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._app_id: str | None = os.environ.get("STRATO_APP_ID") if not is_local() else None
        self._client: Any = None
        self._function_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"App({self._name!r})"

    # -- properties ----------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._name

    @property
    def app_id(self) -> str | None:
        return self._app_id

    @property
    def description(self) -> str:
        return self._name or "ephemeral app"

    @property
    def image(self) -> Any:
        return self._image

    @property
    def registered_functions(self) -> dict[str, Function[Any]]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        return dict(self._entrypoints)

    def include(self, other_app: App) -> App:
        """Add another app's functions, classes and entrypoints to this one."""
        self._functions.update(other_app._functions)
        self._classes.update(other_app._classes)
        self._entrypoints.update(other_app._entrypoints)
        for obj in [*other_app._functions.values(), *other_app._classes.values()]:
            obj._app = self
        return self

    # -- decorators ----------------------------------------------------------------------
    def function(
        self, _warn_parentheses_missing: Any = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Function[Any]]:
        """Register a function to run in containers (takes Modal's ``App.function`` arguments)."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.function() with parentheses")

        def decorate(raw_f: Callable[..., Any]) -> Function[Any]:
            if isinstance(raw_f, Function | Cls):
                raise InvalidError("@app.function() is applied twice, or to a Strato object")
            if not callable(raw_f) or inspect.isclass(raw_f):
                raise InvalidError(
                    f"@app.function() decorates a function, got {type(raw_f).__name__}"
                )
            options = validate_options("function", kwargs, flags_of(raw_f))
            tag = kwargs.get("name") or raw_f.__qualname__
            is_generator = kwargs.get("is_generator")
            if is_generator is None:
                is_generator = inspect.isgeneratorfunction(raw_f) or inspect.isasyncgenfunction(
                    raw_f
                )
            function: Function[Any] = Function(
                self, raw_f, tag, options, is_generator=bool(is_generator)
            )
            function._objects = self._objects_for(kwargs)  # type: ignore[attr-defined]
            function._describe = lambda: describe(
                raw_f, "function", options, bool(kwargs.get("serialized"))
            )  # type: ignore[attr-defined]
            self._functions[tag] = function
            return function

        return decorate

    def cls(self, _warn_parentheses_missing: Any = None, **kwargs: Any) -> Callable[[type], Cls]:
        """Register a class whose ``@strato.method`` methods run in containers."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.cls() with parentheses")

        def decorate(user_cls: type) -> Cls:
            check_class(user_cls)
            options = validate_options("cls", kwargs, flags_of(user_cls))
            tag = user_cls.__qualname__
            registered = Cls(self, user_cls, tag, options)
            registered._objects = self._objects_for(kwargs)  # type: ignore[attr-defined]
            registered._describe = lambda: describe(
                user_cls, "class", options, bool(kwargs.get("serialized"))
            )  # type: ignore[attr-defined]
            self._classes[tag] = registered
            return registered

        return decorate

    def _objects_for(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The image, secrets and volumes a function uses: its own added to the app's."""
        return {
            "image": kwargs.get("image") or self._image,
            "secrets": [*self._secrets, *(kwargs.get("secrets") or ())],
            "volumes": {**self._volumes, **(kwargs.get("volumes") or {})},
        }

    def _hydrate_objects(self, objects: dict[str, Any], cache: dict[int, Any]) -> dict[str, Any]:
        """References the control plane understands, for each object a function uses.

        Each object kind implements ``_strato_hydrate(client, app_id)`` (build the image,
        look up the secret, create the volume...) and returns a msgpack-able reference; an
        object shared by several functions is hydrated once per run.
        """

        def hydrate(obj: Any) -> Any:
            if id(obj) not in cache:
                method = getattr(obj, "_strato_hydrate", None)
                if method is None:
                    raise InvalidError(f"{type(obj).__name__} objects cannot be used by a function")
                cache[id(obj)] = method(self._client, self._app_id)
            return cache[id(obj)]

        image = objects.get("image")
        return {
            "image": hydrate(image) if image is not None else None,
            "secrets": [hydrate(s) for s in objects.get("secrets") or ()],
            "volumes": {
                str(path): hydrate(v) for path, v in (objects.get("volumes") or {}).items()
            },
        }

    def local_entrypoint(
        self, _warn_parentheses_missing: Any = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Mark a function that ``strato run`` calls locally with the app running."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.local_entrypoint() with parentheses")

        def decorate(raw_f: Callable[..., Any]) -> LocalEntrypoint:
            entry = LocalEntrypoint(self, raw_f, name or raw_f.__name__)
            self._entrypoints[entry.name] = entry
            return entry

        return decorate

    # -- running -------------------------------------------------------------------------
    def _require_client(self) -> Any:
        if self._client is None:
            if is_local():
                raise InvalidError(
                    "the app is not running: call functions inside `with app.run():` "
                    "or via `strato run`"
                )
            from strato.client import Client

            self._client = Client.from_env()
        return self._client

    def _register(self, name: str, definition: dict[str, Any], parent_id: str | None = None) -> str:
        body = {
            "name": name,
            "definition": base64.b64encode(proto.pack(definition)).decode(),
            "parent_id": parent_id,
        }
        response = self._require_client().request(
            "POST", f"/v1/apps/{self._app_id}/functions", json=body
        )
        return str(response["function_id"])

    def _attach_source(self, definition: dict[str, Any], cache: dict[str, list[Any]]) -> None:
        """Ship the function's own files with it when it runs on a cloud machine (unless
        ``include_source=False`` on the function, or on the app when the function says
        nothing)."""
        options = definition.get("options") or {}
        include = options.get("include_source")
        if include is None:
            include = self._include_source
        if include and definition.get("pickled") is None:
            from strato.config import wants_cloud

            if wants_cloud(options):
                from strato._source import attach

                attach(self._require_client(), definition, cache)

    def _register_bound(self, cls: Cls, params: dict[str, Any]) -> str:
        import pickle

        definition = cls._describe()  # type: ignore[attr-defined]
        definition["objects"] = self._hydrate_objects(cls._objects, {})  # type: ignore[attr-defined]
        self._attach_source(definition, {})
        definition["params"] = pickle.dumps(params)
        return self._register(cls._tag, definition, parent_id=cls._class_function_id())

    def _lookup_function_id(self, tag: str) -> str:
        if tag in self._function_ids:
            return self._function_ids[tag]
        if is_local():
            self._require_client()
            raise NotFoundError(f"{tag} is not registered with the running app")
        response = self._require_client().request("GET", f"/v1/apps/{self._app_id}/functions/{tag}")
        self._function_ids[tag] = str(response["function_id"])
        return self._function_ids[tag]

    @contextmanager
    def run(
        self,
        *,
        client: Any = None,
        detach: bool = False,
        interactive: bool = False,
        environment_name: str | None = None,
    ) -> Iterator[App]:
        """Run the app for the duration of the ``with`` block."""
        if not is_local():
            raise InvalidError("app.run() cannot be called inside a container")
        if self._client is not None:
            raise InvalidError("the app is already running")
        from strato.client import Client

        self._client = client or Client.from_env()
        if "__main__" in sys.modules:
            sys.modules.setdefault(MAIN_ALIAS, sys.modules["__main__"])
        self._app_id = self._client.request("POST", "/v1/apps", json={"name": self._name})["app_id"]
        try:
            self._client.session.subscribe_logs(self._app_id)
            cache: dict[int, Any] = {}
            sources: dict[str, list[Any]] = {}
            for tag, obj in [*self._functions.items(), *self._classes.items()]:
                definition = obj._describe()  # type: ignore[attr-defined]
                definition["objects"] = self._hydrate_objects(obj._objects, cache)  # type: ignore[attr-defined]
                self._attach_source(definition, sources)
                self._function_ids[tag] = obj._function_id = self._register(tag, definition)
            yield self
        finally:
            try:
                if not detach:
                    self._client.request("POST", f"/v1/apps/{self._app_id}/stop")
            finally:
                for function in self._functions.values():
                    function._function_id = None
                for registered in self._classes.values():
                    registered._function_id = None
                    registered._bound_ids.clear()
                self._function_ids.clear()
                self._client = None
