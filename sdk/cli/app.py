"""``strato app``: list apps, read their logs, stop them."""

from __future__ import annotations

import datetime
import time

import typer

app = typer.Typer(help="Inspect and manage apps.", no_args_is_help=True)


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_apps() -> None:
    """List apps, newest first."""
    from strato.cli._util import StateReader, fail_on_strato_error, table

    with fail_on_strato_error():
        rows = StateReader().apps()
    typer.echo(
        table(
            [
                (
                    r["id"],
                    r.get("name") or "",
                    r["state"],
                    r.get("functions", ""),
                    _when(r["created_at"]),
                    _when(r.get("stopped_at")),
                )
                for r in rows
            ],
            ["app id", "name", "state", "functions", "created", "stopped"],
        )
    )


@app.command("logs")
def logs(
    app_ref: str = typer.Argument(..., help="app id or name (the latest app with that name)"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing while the app runs"),
) -> None:
    """Print what an app's containers wrote to stdout and stderr."""
    from strato.cli._util import StateReader, fail_on_strato_error, write_log

    with fail_on_strato_error():
        reader = StateReader()
        app_id = reader.app(app_ref)["id"]
        after = 0
        while True:
            lines, state = reader.logs(app_id, after, wait=1.0 if follow else 0.0)
            for line in lines:
                write_log(line["fd"], line["text"])
                after = line["id"]
            if not follow or (not lines and state == "stopped"):
                return
            if not lines:
                time.sleep(0.1)


@app.command("stop")
def stop(app_ref: str = typer.Argument(..., help="app id or name")) -> None:
    """Stop an app: cancel its queued inputs and stop its containers."""
    from strato.cli._util import StateReader, fail_on_strato_error

    with fail_on_strato_error():
        reader = StateReader()
        app_id = reader.app(app_ref)["id"]
        reader.stop(app_id)
    typer.echo(f"stopped {app_id}")


@app.command("events")
def events(app_ref: str = typer.Argument(..., help="app id or name")) -> None:
    """Every provisioning attempt of an app: where it tried, what each provider said."""
    from strato.cli._util import StateReader, fail_on_strato_error, table

    with fail_on_strato_error():
        reader = StateReader()
        app_id = reader.app(app_ref)["id"]
        rows = reader.events(app_id)
    typer.echo(
        table(
            [
                (
                    _when(r["ts"]),
                    r["kind"],
                    r.get("provider"),
                    r.get("region"),
                    r.get("zone"),
                    r.get("instance_type"),
                    r.get("error"),
                    (r.get("message") or "")[:80],
                )
                for r in rows
            ],
            ["time", "kind", "provider", "region", "zone", "instance type", "error", "message"],
        )
    )
