"""What ``strato run`` does: import the user's file, pick the entrypoint, parse its arguments
from the command line (like ``modal run``), and call it with the app running."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType
from typing import Any

import click

from strato.exception import InvalidError

_SUPPORTED = (str, int, float, bool, datetime.datetime)


def import_target(path_or_module: str) -> ModuleType:
    """Import ``app.py`` (by its stem, with its folder on ``sys.path``) or a module name."""
    if path_or_module.endswith(".py") or os.sep in path_or_module:
        path = os.path.abspath(path_or_module)
        if not os.path.exists(path):
            raise InvalidError(f"no such file: {path_or_module}")
        folder, name = os.path.split(path)
        module_name = os.path.splitext(name)[0]
        if folder not in sys.path:
            sys.path.insert(0, folder)
        if (
            module_name in sys.modules
            and getattr(sys.modules[module_name], "__file__", None) == path
        ):
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise InvalidError(f"cannot import {path_or_module}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(path_or_module)


def _find_app(module: ModuleType, app_name: str | None) -> Any:
    from strato.app import App

    apps = {name: obj for name, obj in vars(module).items() if isinstance(obj, App)}
    if app_name is not None:
        if app_name not in apps:
            raise InvalidError(
                f"{module.__name__} has no App named {app_name!r}; "
                f"found: {', '.join(apps) or 'none'}"
            )
        return apps[app_name]
    if not apps:
        raise InvalidError(f"{module.__name__} defines no strato.App")
    if len(apps) > 1:
        raise InvalidError(
            f"{module.__name__} defines several apps ({', '.join(apps)}): name one, "
            f"e.g. file.py::{next(iter(apps))}.main"
        )
    return next(iter(apps.values()))


def resolve(target: str) -> tuple[Any, Any]:
    """(app, entrypoint) for ``file.py``, ``file.py::name`` or ``file.py::app.name``."""
    path, _, name = target.partition("::")
    module = import_target(path)
    app_name, _, object_name = name.rpartition(".") if "." in name else (None, "", name)
    if app_name is None and object_name:
        from strato.app import App

        candidate = getattr(module, object_name, None)
        if isinstance(candidate, App):  # `file.py::app`
            app_name, object_name = object_name, ""
    app = _find_app(module, app_name or None)
    entrypoints, functions = app.registered_entrypoints, app.registered_functions
    if object_name:
        if object_name in entrypoints:
            return app, entrypoints[object_name]
        if object_name in functions:
            return app, functions[object_name]
        choices = [*entrypoints, *functions]
        raise InvalidError(
            f"no entrypoint or function {object_name!r}; "
            f"choose one of: {', '.join(choices) or 'none'}"
        )
    if len(entrypoints) == 1:
        return app, next(iter(entrypoints.values()))
    if not entrypoints and len(functions) == 1:
        return app, next(iter(functions.values()))
    choices = [*entrypoints, *functions]
    raise InvalidError(
        f"{target} has several entrypoints: add ::name, one of: {', '.join(choices) or 'none'}"
    )


def _click_type(annotation: Any) -> Any:
    if annotation is datetime.datetime:
        return click.DateTime()
    return annotation if annotation in (str, int, float) else str


def parse_arguments(fn: Any, argv: list[str], prog: str) -> dict[str, Any]:
    """Parse ``--name value`` options from ``fn``'s signature, as ``modal run`` does."""
    signature = inspect.signature(fn)
    params: list[click.Parameter] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = parameter.annotation
        if isinstance(annotation, str):
            annotation = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation, str)
        if annotation is inspect.Parameter.empty:
            annotation = (
                type(parameter.default)
                if parameter.default not in (inspect.Parameter.empty, None)
                else str
            )
        if annotation not in _SUPPORTED:
            raise InvalidError(
                f"argument {name!r} of {fn.__name__} has type {annotation!r}; "
                "strato run supports str, int, float, bool and datetime"
            )
        option = "--" + name.replace("_", "-")
        required = parameter.default is inspect.Parameter.empty
        default = None if required else parameter.default
        if annotation is bool:
            params.append(
                click.Option(
                    [f"{option}/--no-{name.replace('_', '-')}", name],
                    default=bool(default),
                    required=False,
                )
            )
        else:
            extra = {} if required else {"default": default}  # click >= 8.3 takes None as a value
            params.append(
                click.Option(
                    [option, name], type=_click_type(annotation), required=required, **extra
                )
            )
    command = click.Command(prog, params=params, callback=lambda **kw: kw)
    try:
        return command.main(argv, prog_name=prog, standalone_mode=False)  # type: ignore[no-any-return]
    except click.exceptions.NoArgsIsHelpError:
        return {}
    except click.ClickException as exc:
        raise InvalidError(exc.format_message()) from None


def run_target(target: str, argv: list[str], detach: bool = False, quiet: bool = False) -> int:
    """Run ``target`` and return the process exit code."""
    from strato.app import LocalEntrypoint
    from strato.client import Client

    app, entry = resolve(target)
    raw = entry.raw_f if isinstance(entry, LocalEntrypoint) else entry.get_raw_f()
    if "--help" in argv:
        click.echo(
            f"usage: strato run {target} "
            + " ".join(f"--{n.replace('_', '-')} VALUE" for n in inspect.signature(raw).parameters)
        )
        return 0
    kwargs = parse_arguments(raw, argv, f"strato run {target}")
    client = Client.from_env()
    if quiet:
        client.session.log_sink = lambda _fd, _text: None
    with app.run(client=client, detach=detach):
        app_id = app.app_id
        if isinstance(entry, LocalEntrypoint):
            result = entry(**kwargs)
            if inspect.iscoroutine(result):
                import asyncio

                asyncio.run(result)
        elif entry._is_generator:
            for value in entry.remote_gen(**kwargs):
                click.echo(value)
        else:
            result = entry.remote(**kwargs)
            if result is not None:
                click.echo(result)
    from strato.cli.cost import run_cost_line

    cost_line = run_cost_line(client, app_id, detach)
    if cost_line:
        click.echo(cost_line, err=True)
    return 0
