"""Decorators that mark functions and classes: ``enter``, ``exit``, ``method``, ``concurrent``,
and ``parameter`` for class fields.

They record what they mean in a ``__strato_flags__`` dict on the function (or class) and return
it unchanged, so a marked method is still an ordinary function of its class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from strato.exception import InvalidError

F = TypeVar("F", bound=Callable[..., Any])
_NO_DEFAULT = object()


def _flag(obj: Any, name: str, value: Any) -> None:
    flags = dict(getattr(obj, "__strato_flags__", None) or {})
    flags[name] = value
    obj.__strato_flags__ = flags


def flags_of(obj: Any) -> dict[str, Any]:
    """The marks a decorator left on ``obj`` (empty when none)."""
    return dict(getattr(obj, "__strato_flags__", None) or {})


def _method_decorator(
    kind: str, _warn_parentheses_missing: Any, **options: Any
) -> Callable[[F], F]:
    if _warn_parentheses_missing is not None:
        raise InvalidError(f"use @strato.{kind}() with parentheses")

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise InvalidError(f"@strato.{kind}() decorates a method, got {type(fn).__name__}")
        _flag(fn, kind, options)
        return fn

    return decorate


def enter(_warn_parentheses_missing: Any = None, *, snap: bool = False) -> Callable[[F], F]:
    """Mark a method of an ``@app.cls`` class to run once when its container starts."""
    return _method_decorator("enter", _warn_parentheses_missing, snap=snap)


def exit(_warn_parentheses_missing: Any = None) -> Callable[[F], F]:  # noqa: A001 - Modal's name
    """Mark a method to run once when its container stops (30 s grace)."""
    return _method_decorator("exit", _warn_parentheses_missing)


def method(
    _warn_parentheses_missing: Any = None, *, is_generator: bool | None = None
) -> Callable[[F], F]:
    """Mark a method of an ``@app.cls`` class as callable remotely."""
    return _method_decorator("method", _warn_parentheses_missing, is_generator=is_generator)


def concurrent(*, max_inputs: int, target_inputs: int | None = None) -> Callable[[F], F]:
    """Let one container run up to ``max_inputs`` inputs at once (threads for sync functions,
    tasks for async ones); the autoscaler aims for ``target_inputs`` per container."""
    if not isinstance(max_inputs, int) or isinstance(max_inputs, bool) or max_inputs < 1:
        raise InvalidError(f"concurrent: max_inputs must be an int >= 1, got {max_inputs!r}")
    if target_inputs is not None and (
        not isinstance(target_inputs, int) or not 1 <= target_inputs <= max_inputs
    ):
        raise InvalidError(
            f"concurrent: target_inputs must be an int between 1 and max_inputs ({max_inputs}), "
            f"got {target_inputs!r}"
        )

    def decorate(obj: F) -> F:
        if getattr(obj, "_strato_raw", None) is not None:
            raise InvalidError("put @strato.concurrent below @app.function / @app.cls, not above")
        _flag(obj, "concurrent", {"max_inputs": max_inputs, "target_inputs": target_inputs})
        return obj

    return decorate


class _Parameter:
    """A class parameter declared with :func:`parameter`."""

    def __init__(self, default: Any, init: bool) -> None:
        self.default = default
        self.init = init
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        if self.default is _NO_DEFAULT:
            raise AttributeError(f"parameter {self.name!r} has no value")
        return self.default


PARAMETER_TYPES = (str, int, bool, bytes, float)


def parameter(*, default: Any = _NO_DEFAULT, init: bool = True) -> Any:
    """Declare a parameter of an ``@app.cls`` class: ``name: str = strato.parameter()``."""
    return _Parameter(default, init)


def class_parameters(user_cls: type) -> dict[str, _Parameter]:
    """The parameters a class declares, by name."""
    found: dict[str, _Parameter] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _Parameter) and value.init:
                found[name] = value
    return found


def bind_parameters(user_cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Check ``kwargs`` against the class's parameters and fill in defaults."""
    params = class_parameters(user_cls)
    unknown = set(kwargs) - set(params)
    if unknown:
        raise InvalidError(
            f"{user_cls.__name__}() got unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"its parameters are: {', '.join(params) or 'none'}"
        )
    bound = {}
    for name, spec in params.items():
        if name in kwargs:
            value = kwargs[name]
        elif spec.default is not _NO_DEFAULT:
            value = spec.default
        else:
            raise InvalidError(f"{user_cls.__name__}() is missing the parameter {name!r}")
        if not isinstance(value, PARAMETER_TYPES):
            raise InvalidError(
                f"parameter {name!r} must be one of str, int, bool, bytes, float; "
                f"got {type(value).__name__}"
            )
        bound[name] = value
    return bound


def is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
