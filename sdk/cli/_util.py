"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer


@contextmanager
def fail_on_strato_error() -> Iterator[None]:
    """Print a Strato error as one line with a hint and exit 2, never a traceback."""
    from strato.exception import AuthError, ConnectionError, Error

    try:
        yield
    except AuthError as exc:
        typer.echo(f"Error: {exc}", err=True)
        typer.echo("Hint: `strato token new` prints a new token; set it as STRATO_TOKEN.", err=True)
        raise typer.Exit(2) from None
    except ConnectionError as exc:
        typer.echo(f"Error: {exc}", err=True)
        typer.echo("Hint: is `strato server` running at STRATO_SERVER_URL?", err=True)
        raise typer.Exit(2) from None
    except Error as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class StateReader:
    """Read apps and logs: from ``STRATO_SERVER_URL`` when set, else the local database."""

    def __init__(self) -> None:
        self.remote = bool(os.environ.get("STRATO_SERVER_URL"))
        self._client: Any = None
        self._store: Any = None
        if self.remote:
            from strato.client import Client

            self._client = Client.from_env()
        else:
            from strato.core.service import database_url
            from strato.core.store import Store, make_engine

            self._store = Store(make_engine(database_url()))

    def apps(self) -> list[dict[str, Any]]:
        if self.remote:
            return list(self._client.request("GET", "/v1/apps")["apps"])
        return list(self._store.list_apps())

    def app(self, ref: str) -> dict[str, Any]:
        from strato.exception import NotFoundError

        if self.remote:
            return dict(self._client.request("GET", f"/v1/apps/{ref}"))
        row = self._store.get_app(ref)
        if row is None:
            raise NotFoundError(f"no app named or with id {ref!r} (see `strato app list`)")
        return dict(row)

    def logs(self, app_id: str, after: int, wait: float) -> tuple[list[dict[str, Any]], str]:
        if self.remote:
            body = self._client.request(
                "GET", f"/v1/apps/{app_id}/logs", params={"after": after, "wait": wait}
            )
            return list(body["lines"]), str(body["state"])
        import time

        deadline = time.monotonic() + wait
        while True:
            lines = self._store.logs_after(app_id, after)
            if lines or time.monotonic() >= deadline:
                state = (self._store.get_app(app_id) or {}).get("state", "unknown")
                return lines, state
            time.sleep(0.2)

    def events(self, app_id: str) -> list[dict[str, Any]]:
        if self.remote:
            return list(self._client.request("GET", f"/v1/apps/{app_id}/events")["events"])
        return list(self._store.events_for(app_id))

    def stop(self, app_id: str) -> None:
        if self.remote:
            self._client.request("POST", f"/v1/apps/{app_id}/stop")
        else:
            self._store.set_app_state(app_id, "stopped")


def write_log(fd: int, text: str) -> None:
    stream = sys.stderr if fd == 2 else sys.stdout
    stream.write(text)
    stream.flush()


def _named_class(kind: str) -> Any:
    """``Dict`` or ``Queue``, imported when a command runs."""
    import importlib

    return getattr(importlib.import_module(f"strato.{kind.lower()}"), kind)


def create_named(kind: str, name: str) -> None:
    """``strato dict|queue create``: make a named object (nothing happens when it exists)."""
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        with cli_client() as client:
            _named_class(kind).objects.create(name, allow_existing=True, client=client)
    typer.echo(f"Created {kind} {name!r}")


def delete_named(kind: str, name: str, allow_missing: bool, yes: bool) -> None:
    """``strato dict|queue delete``: remove a named object and its data, after confirming."""
    if not yes:
        typer.confirm(f"Delete the {kind} {name!r} and all of its data?", abort=True)
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        with cli_client() as client:
            _named_class(kind).objects.delete(name, allow_missing=allow_missing, client=client)
    typer.echo(f"Deleted {kind} {name!r}")
