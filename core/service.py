"""Running the control plane: in-process for ``strato run``, or standalone for ``strato server``.

The database is ``STRATO_DATABASE_URL`` when set (``postgresql+psycopg://...`` at scale), else
``strato.db`` in the data dir. The standalone server's bearer token is created on first start
and kept in the config dir (``strato token new`` replaces it).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strato.config import config_dir, data_dir

TOKEN_FILE = "token"


def database_url() -> str:
    """The database the control plane uses."""
    from strato.core.store import sqlite_url

    return os.environ.get("STRATO_DATABASE_URL") or sqlite_url(str(data_dir() / "strato.db"))


def token_path() -> Path:
    return config_dir() / TOKEN_FILE


def load_or_create_token() -> str:
    """The standalone server's token, created (mode 0600) on first use."""
    path = token_path()
    if path.exists():
        return path.read_text().strip()
    return new_token()


def new_token() -> str:
    """Create and save a fresh token, replacing the old one."""
    token = secrets.token_urlsafe(32)
    path = token_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class _QuietRefusals(logging.Filter):
    """uvicorn logs an error for every WebSocket answered with an HTTP 401 instead of an
    accept (``send_denial_response``), which is how the plane refuses a wrong token. Such a
    refusal is expected traffic, not an error of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietRefusals())


def _build(token: str, url: str, recover: bool):  # type: ignore[no-untyped-def]
    from strato.core.plane import ControlPlane
    from strato.core.server import create_app
    from strato.core.store import Store, make_engine
    from strato.plugins.manager import default_providers

    store = Store(make_engine(database_url()))
    plane = ControlPlane(store, default_providers(), recover=recover)
    return create_app(plane, token, url), plane


@dataclass
class EmbeddedServer:
    """A control plane served on a loopback port from a background thread of this process."""

    url: str
    token: str
    plane: Any
    loop: Any
    _server: Any
    _thread: threading.Thread

    def shutdown(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.plane.begin_shutdown)
        except RuntimeError:
            pass  # the loop is already closed
        self._server.should_exit = True
        self._thread.join(timeout=5)


def start_embedded() -> EmbeddedServer:
    """Start a private control plane for this process and return where it listens."""
    import uvicorn

    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every small message waits out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    token = secrets.token_urlsafe(24)
    app, plane = _build(token, url, recover=False)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        ws_max_size=1 << 30,
        ws_ping_interval=None,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="strato-control-plane"
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the embedded control plane failed to start")
        time.sleep(0.005)
    loop = plane.loop
    return EmbeddedServer(url, token, plane, loop, server, thread)


def serve(host: str, port: int, advertise_url: str | None = None) -> None:
    """Run the standalone control plane in the foreground until interrupted."""
    import uvicorn

    token = load_or_create_token()
    url = advertise_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    app, _plane = _build(token, url, recover=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=1 << 30)
