"""``strato secret``: create, list and delete named secrets.

Values go in (``KEY=VALUE`` arguments, ``--from-dotenv``, ``--from-json``) and never come
out: ``list`` shows names and key names. With ``STRATO_SERVER_URL`` set, the commands talk to
that control plane; otherwise they work on this machine's database directly, with no control
plane started (the secrets key in the config dir encrypts them as the embedded plane would).
"""

from __future__ import annotations

import datetime
import json as json_module
from typing import Any

import typer

app = typer.Typer(help="Manage secrets.", no_args_is_help=True)


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            # name the argument's key part only: the rest may be a value
            raise typer.BadParameter(f"expected KEY=VALUE, got {key!r} with no '='")
        env[key] = value
    return env


@app.command("create")
def create(
    secret_name: str = typer.Argument(..., help="name of the secret"),
    keyvalues: list[str] = typer.Argument(None, help="space-separated KEY=VALUE items"),
    from_dotenv: str = typer.Option(None, "--from-dotenv", help="a .env file to read"),
    from_json: str = typer.Option(None, "--from-json", help="a JSON object file to read"),
    force: bool = typer.Option(False, "--force", help="overwrite the secret if it exists"),
    env: str = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)"),
) -> None:
    """Create a secret from KEY=VALUE pairs and/or files (later sources win)."""
    from strato.cli._util import fail_on_strato_error

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.exception import InvalidError
        from strato.secret import _checked, read_dotenv

        contents: dict[str, Any] = {}
        if from_dotenv:
            contents.update(read_dotenv(from_dotenv))
        if from_json:
            with open(from_json) as fh:
                loaded = json_module.load(fh)
            if not isinstance(loaded, dict):
                raise InvalidError(f"{from_json} must hold a JSON object of str values")
            contents.update(loaded)
        contents.update(_parse_pairs(keyvalues or []))
        if not contents:
            raise InvalidError("a secret needs at least one KEY=VALUE (or --from-dotenv)")
        params = {
            "name": secret_name,
            "env": _checked(contents),
            "allow_existing": False,
            "overwrite": force,
        }
        with cli_client() as client:
            client.rpc("secret.create", params)
    keys = ", ".join(sorted(contents))
    typer.echo(f"Created secret {secret_name!r} with keys: {keys}")


@app.command("list")
def list_secrets(
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"),
    env: str = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)"),
) -> None:
    """List named secrets with their key names (never their values)."""
    from strato.cli._util import fail_on_strato_error, table

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        with cli_client() as client:
            rows = client.rpc("secret.list", {})
    if json:
        typer.echo(json_module.dumps(rows, indent=2))
        return
    typer.echo(
        table(
            [
                (r["name"], _when(r["created_at"]), _when(r["updated_at"]), ", ".join(r["keys"]))
                for r in rows
            ],
            ["name", "created", "updated", "keys"],
        )
    )


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="name of the secret (case sensitive)"),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="don't fail when it doesn't exist"
    ),
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)"),
) -> None:
    """Delete a named secret (apps using it fail to start new containers)."""
    from strato.cli._util import fail_on_strato_error

    if not yes:
        typer.confirm(f"Delete the secret {name!r}? This cannot be undone.", abort=True)
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        with cli_client() as client:
            gone = client.rpc("secret.delete", {"name": name, "allow_missing": allow_missing})
    typer.echo(f"Deleted secret {name!r}" if gone else f"No secret named {name!r}")
