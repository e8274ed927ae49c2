"""``strato server``: the control plane as a standalone service."""

from __future__ import annotations

import typer


def server(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    advertise_url: str = typer.Option(None, help="URL containers use to reach this server"),
) -> None:
    """Run the control plane; every request needs the token kept in the config dir."""
    from strato.core.service import database_url, load_or_create_token, token_path

    load_or_create_token()
    typer.echo(
        f"strato control plane on http://{host}:{port}  (database: {database_url()})", err=True
    )
    typer.echo(f"token: {token_path()}  (clients: STRATO_SERVER_URL + STRATO_TOKEN)", err=True)
    from strato.core.service import serve

    serve(host, port, advertise_url)
