"""``strato dict``: manage named Dicts and look inside them.

With ``STRATO_SERVER_URL`` set, the commands talk to that control plane; otherwise they work
on this machine's database directly, with no control plane started. Keys given on the command
line are strings, as with Modal's CLI.
"""

from __future__ import annotations

import datetime
import json as json_module
from typing import Any

import typer

app = typer.Typer(help="Manage Dicts and inspect their contents.", no_args_is_help=True)

_ENV = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)")


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _show(value: Any, use_repr: bool) -> str:
    return repr(value) if use_repr else str(value)


def _jsonable(value: Any) -> Any:
    try:
        json_module.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


@app.command("create")
def create(name: str, env: str = _ENV) -> None:
    """Create a named Dict (nothing happens when it exists)."""
    from strato.cli._util import create_named

    create_named("Dict", name)


@app.command("list")
def list_dicts(
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"), env: str = _ENV
) -> None:
    """List named Dicts, newest first."""
    from strato.cli._util import fail_on_strato_error, table

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        with cli_client() as client:
            rows = client.rpc("dict.list", {})
    if json:
        typer.echo(
            json_module.dumps([{"name": r["name"], "created_at": r["created_at"]} for r in rows])
        )
        return
    typer.echo(table([(r["name"], _when(r["created_at"])) for r in rows], ["name", "created"]))


@app.command("clear")
def clear(
    name: str,
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Remove every entry of a named Dict."""
    from strato.cli._util import fail_on_strato_error

    if not yes:
        typer.confirm(f"Clear every entry of the Dict {name!r}?", abort=True)
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.dict import Dict

        with cli_client() as client:
            Dict(name, client=client).clear()
    typer.echo(f"Cleared Dict {name!r}")


@app.command("delete")
def delete(
    name: str,
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="don't fail when it doesn't exist"
    ),
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Delete a named Dict and all of its data."""
    from strato.cli._util import delete_named

    delete_named("Dict", name, allow_missing, yes)


@app.command("get")
def get(name: str, key: str, env: str = _ENV) -> None:
    """Print the value stored under KEY (a string key)."""
    from strato.cli._util import fail_on_strato_error

    missing = object()
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.dict import Dict

        with cli_client() as client:
            value = Dict(name, client=client).get(key, missing)
    if value is missing:
        typer.echo(f"Error: no key {key!r} in the Dict {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(str(value))


@app.command("items")
def items(
    name: str,
    n: int = typer.Argument(20, help="how many entries to show"),
    all: bool = typer.Option(False, "-a", "--all", help="show every entry (may be slow)"),  # noqa: A002
    use_repr: bool = typer.Option(False, "-r", "--repr", help="show items with repr()"),
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"),
    env: str = _ENV,
) -> None:
    """Print a Dict's entries (the first N, unordered)."""
    from strato.cli._util import fail_on_strato_error, table

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.dict import Dict

        shown: list[tuple[Any, Any]] = []
        with cli_client() as client:
            for pair in Dict(name, client=client).items():
                if not all and len(shown) >= n:
                    break
                shown.append(pair)
    if json:
        typer.echo(
            json_module.dumps([{"key": _jsonable(k), "value": _jsonable(v)} for k, v in shown])
        )
        return
    typer.echo(
        table([(_show(k, use_repr), _show(v, use_repr)) for k, v in shown], ["key", "value"])
    )
