"""``strato queue``: manage named Queues and look inside them.

With ``STRATO_SERVER_URL`` set, the commands talk to that control plane; otherwise they work
on this machine's database directly, with no control plane started.
"""

from __future__ import annotations

import datetime
import json as json_module

import typer

app = typer.Typer(help="Manage Queues and inspect their contents.", no_args_is_help=True)

_ENV = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)")
_PARTITION = typer.Option(
    None, "-p", "--partition", help="a partition (default: the default partition)"
)


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("create")
def create(name: str, env: str = _ENV) -> None:
    """Create a named Queue (nothing happens when it exists)."""
    from strato.cli._util import create_named

    create_named("Queue", name)


@app.command("delete")
def delete(
    name: str,
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="don't fail when it doesn't exist"
    ),
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Delete a named Queue and all of its data."""
    from strato.cli._util import delete_named

    delete_named("Queue", name, allow_missing, yes)


@app.command("list")
def list_queues(
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"), env: str = _ENV
) -> None:
    """List named Queues with their total length, newest first."""
    from strato.cli._util import fail_on_strato_error, table

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.queue import Queue

        with cli_client() as client:
            rows = [
                (row["name"], row["created_at"], Queue(row["name"], row["id"], client=client))
                for row in client.rpc("queue.list", {})
            ]
            listed = [(name, created, q.len(total=True)) for name, created, q in rows]
    if json:
        typer.echo(
            json_module.dumps(
                [{"name": n, "created_at": c, "total_size": size} for n, c, size in listed]
            )
        )
        return
    typer.echo(
        table([(n, _when(c), size) for n, c, size in listed], ["name", "created", "total size"])
    )


@app.command("clear")
def clear(
    name: str,
    partition: str = _PARTITION,
    all: bool = typer.Option(False, "-a", "--all", help="clear every partition"),  # noqa: A002
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Remove the items of one partition, or of all of them."""
    from strato.cli._util import fail_on_strato_error

    if not yes:
        what = "every partition" if all else f"partition {partition!r}" if partition else "it"
        typer.confirm(f"Clear {what} of the Queue {name!r}?", abort=True)
    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.queue import Queue

        with cli_client() as client:
            Queue(name, client=client).clear(partition=partition, all=all)
    typer.echo(f"Cleared Queue {name!r}")


@app.command("peek")
def peek(
    name: str,
    n: int = typer.Argument(1, help="how many items to show"),
    partition: str = _PARTITION,
    env: str = _ENV,
) -> None:
    """Print the next N items, leaving them in the queue."""
    from strato.cli._util import fail_on_strato_error

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.queue import Queue

        shown: list[object] = []
        with cli_client() as client:
            for item in Queue(name, client=client).iterate(partition=partition):
                if len(shown) >= n:
                    break
                shown.append(item)
    for item in shown:
        typer.echo(str(item))


@app.command("len")
def length(
    name: str,
    partition: str = _PARTITION,
    total: bool = typer.Option(False, "-t", "--total", help="the sum over every partition"),
    env: str = _ENV,
) -> None:
    """Print the length of a partition, or of all of them."""
    from strato.cli._util import fail_on_strato_error

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client
        from strato.queue import Queue

        with cli_client() as client:
            size = Queue(name, client=client).len(partition=partition, total=total)
    typer.echo(str(size))
