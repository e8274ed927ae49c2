"""``strato volume``: manage volumes and the files in them.

With ``STRATO_SERVER_URL`` set, the commands talk to that control plane; otherwise they work on
this machine's database and volume files directly, with no control plane started (uploads and
removals are applied the way a control plane applies them, so running containers see them on
their next reload either way).
"""

from __future__ import annotations

import datetime
import json as json_module
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

app = typer.Typer(help="Manage volumes and the files in them.", no_args_is_help=True)

_ENV = typer.Option(None, "-e", "--env", help="environment (ignored: there is one)")


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def _session() -> Iterator[Any]:
    """A client for this command, with Strato and file-system errors printed as one line."""
    from strato.cli._util import fail_on_strato_error

    with fail_on_strato_error():
        from strato.core.objects._named import cli_client

        try:
            with cli_client() as client:
                yield client
        except OSError as exc:
            from strato.exception import Error

            if isinstance(exc, Error):  # a volume's missing file: printed like the others
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"Error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None


def _volume(name: str, client: Any) -> Any:
    from strato.volume import Volume

    return Volume.from_name(name).hydrate(client)


@app.command("create")
def create(
    name: str,
    env: str = _ENV,
    version: int = typer.Option(None, "--version", help="accepted for Modal compatibility"),
) -> None:
    """Create a named, persistent volume."""
    from strato.volume import Volume

    with _session() as client:
        Volume.objects.create(name, client=client)
    typer.echo(f"Created volume {name!r}.")


@app.command("list")
def list_volumes(
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"), env: str = _ENV
) -> None:
    """List named volumes, newest first."""
    from strato.cli._util import table

    with _session() as client:
        rows = client.rpc("volume.list", {})
    if json:
        typer.echo(
            json_module.dumps([{"name": r["name"], "created_at": r["created_at"]} for r in rows])
        )
        return
    typer.echo(table([(r["name"], _when(r["created_at"])) for r in rows], ["name", "created"]))


@app.command("ls")
def ls(
    volume_name: str,
    path: str = typer.Argument("/"),
    json: bool = typer.Option(False, "--json/--no-json", help="print JSON"),
    env: str = _ENV,
) -> None:
    """List files and directories in a volume."""
    from strato.cli._util import table

    with _session() as client:
        entries = _volume(volume_name, client).listdir(path)
    if json:
        typer.echo(
            json_module.dumps(
                [
                    {"path": e.path, "type": e.type.name.lower(), "mtime": e.mtime, "size": e.size}
                    for e in entries
                ]
            )
        )
        return
    rows = [
        (
            e.path + ("/" if e.type.name == "DIRECTORY" else ""),
            e.type.name.lower(),
            _when(e.mtime),
            "" if e.type.name == "DIRECTORY" else e.size,
        )
        for e in entries
    ]
    typer.echo(table(rows, ["filename", "type", "modified", "size"]))


@app.command("put")
def put(
    volume_name: str,
    local_path: str,
    remote_path: str = typer.Argument("/"),
    force: bool = typer.Option(False, "-f", "--force", help="overwrite existing files"),
    env: str = _ENV,
) -> None:
    """Upload a file or a directory to a volume (parent directories are created).

    A REMOTE_PATH ending in '/' is a directory: the file keeps its name under it."""
    with _session() as client:
        volume = _volume(volume_name, client)
        if os.path.isdir(local_path):
            with volume.batch_upload(force=force) as batch:
                batch.put_directory(local_path, remote_path)
            typer.echo(f"Uploaded directory {local_path!r} to {remote_path!r}.")
            return
        if not os.path.exists(local_path):
            raise FileNotFoundError(2, "no such file or directory", local_path)
        target = remote_path
        if remote_path.endswith("/"):
            target = remote_path + os.path.basename(local_path)
        with volume.batch_upload(force=force) as batch:
            batch.put_file(local_path, target)
    typer.echo(f"Uploaded file {local_path!r} to {target!r}.")


def _download(read: Callable[[str], Iterator[bytes]], remote: str, local: str, force: bool) -> int:
    if os.path.exists(local) and not force:
        raise FileExistsError(17, "exists (pass --force to overwrite)", local)
    os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
    tmp = f"{local}.strato-partial"
    size = 0
    with open(tmp, "wb") as out:
        for chunk in read(remote):
            out.write(chunk)
            size += len(chunk)
    os.replace(tmp, local)
    return size


@app.command("get")
def get(
    volume_name: str,
    remote_path: str,
    local_destination: str = typer.Argument("."),
    force: bool = typer.Option(False, "--force/--no-force", help="overwrite local files"),
    env: str = _ENV,
) -> None:
    """Download a file or a directory (recursively) from a volume; '-' writes to stdout."""
    with _session() as client:
        volume = _volume(volume_name, client)
        entries = volume.listdir(remote_path, recursive=True)
        top = remote_path.strip("/")
        is_file = len(entries) == 1 and entries[0].path == top and entries[0].type.name == "FILE"
        if local_destination == "-":
            if not is_file:
                raise IsADirectoryError(21, "a directory cannot be written to stdout", top)
            for chunk in volume.read_file(top):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        if is_file:
            local = local_destination
            if os.path.isdir(local):
                local = os.path.join(local, os.path.basename(top))
            size = _download(volume.read_file, top, local, force)
            typer.echo(f"Downloaded {top!r} to {local!r} ({size} bytes).", err=True)
            return
        count = 0
        for entry in entries:
            rel = entry.path[len(top) :].lstrip("/") if top else entry.path
            local = os.path.join(local_destination, rel)
            if entry.type.name == "DIRECTORY":
                os.makedirs(local, exist_ok=True)
                continue
            _download(volume.read_file, entry.path, local, force)
            count += 1
        typer.echo(f"Downloaded {count} file(s) to {local_destination!r}.", err=True)


@app.command("rm")
def rm(
    volume_name: str,
    remote_path: str,
    recursive: bool = typer.Option(False, "-r", "--recursive", help="delete a directory"),
    env: str = _ENV,
) -> None:
    """Delete a file or directory from a volume."""
    with _session() as client:
        _volume(volume_name, client).remove_file(remote_path, recursive=recursive)
    typer.echo(f"Deleted {remote_path!r} from {volume_name!r}.")


@app.command("cp")
def cp(
    volume_name: str,
    paths: list[str],
    recursive: bool = typer.Option(False, "-r", "--recursive", help="copy directories"),
    env: str = _ENV,
) -> None:
    """Copy within a volume: SOURCE... DESTINATION (a directory for several sources)."""
    if len(paths) < 2:
        typer.echo("Error: give at least one source and a destination", err=True)
        raise typer.Exit(2)
    with _session() as client:
        _volume(volume_name, client).copy_files(paths[:-1], paths[-1], recursive=recursive)
    typer.echo(f"Copied {', '.join(paths[:-1])} to {paths[-1]}.")


@app.command("delete")
def delete(
    name: str,
    allow_missing: bool = typer.Option(False, "--allow-missing", help="no error if missing"),
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Delete a named volume and all of its files."""
    from strato.volume import Volume

    if not yes:
        typer.confirm(f"Delete the volume {name!r} and all of its files?", abort=True)
    with _session() as client:
        Volume.objects.delete(name, allow_missing=allow_missing, client=client)
    typer.echo(f"Deleted volume {name!r}.")


@app.command("rename")
def rename(
    old_name: str,
    new_name: str,
    yes: bool = typer.Option(False, "-y", "--yes", help="don't ask for confirmation"),
    env: str = _ENV,
) -> None:
    """Rename a volume (functions that look it up by its old name will not find it)."""
    from strato.volume import Volume

    if not yes:
        typer.confirm(f"Rename the volume {old_name!r} to {new_name!r}?", abort=True)
    with _session() as client:
        Volume.rename(old_name, new_name, client=client)
    typer.echo(f"Renamed volume {old_name!r} to {new_name!r}.")
