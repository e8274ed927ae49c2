"""What the fake REST services in ``tests/support`` share: a local HTTP server's lifecycle.

A :class:`FakeService` serves its API on ``127.0.0.1`` at a free port, from a daemon thread,
with a request handler made from its :attr:`FakeService.handler` class (a :class:`FakeHandler`
whose ``emulator`` is the service)::

    class _Handler(FakeHandler):
        emulator: MyEmulator

        def _serve(self) -> None:
            status, headers, body = self.emulator.handle(self.command, self.path, self.read_body())
            self.respond(status, headers, body)

        do_GET = do_PUT = _serve


    class MyEmulator(FakeService):
        handler = _Handler


    with MyEmulator() as emulator:  # start() ... stop()
        emulator.url  # http://127.0.0.1:<port>

:meth:`FakeService.stop` also hangs up on the connections clients keep alive, so that a
stopped service is unreachable, as a real endpoint that went away is.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    """A whole HTTP response: status, body and headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FakeHandler(BaseHTTPRequestHandler):
    """Serves a :class:`FakeService`'s requests: HTTP/1.1 keep-alive, no access log."""

    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without TCP_NODELAY, the body waits for the
    # client's delayed ACK of the headers (40 ms a response)
    disable_nagle_algorithm = True
    #: the service this handler serves (set on the class that start() makes)
    emulator: FakeService

    def setup(self) -> None:
        super().setup()
        with self.emulator._lock:
            self.emulator._connections.add(self.connection)

    def finish(self) -> None:
        with self.emulator._lock:
            self.emulator._connections.discard(self.connection)
        super().finish()

    def read_body(self) -> bytes:
        """The request's body, sent with a ``Content-Length`` or in chunks."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers, up to the empty line that ends the body
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def respond(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        """Send a response: ``headers``, a ``Content-Length`` (the body's, unless ``headers``
        give one; none for a 304), then ``body`` (not to a HEAD request, nor with a 304)."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304 and not any(name.lower() == "content-length" for name in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304 and self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client hanging up (or the service hanging up on it in stop()) is not worth a
        # traceback; anything else is
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeService:
    """A fake REST service on 127.0.0.1: :meth:`start` it (or use ``with``), then :meth:`stop`.

    Subclasses set :attr:`handler` and call ``super().__init__()`` before anything else;
    :attr:`_lock` (re-entrant) guards their state as well as the open connections.
    """

    #: the request handler class; start() serves with a subclass of it bound to this service
    handler: ClassVar[type[FakeHandler]] = FakeHandler
    #: how often (seconds) the server thread checks for stop(): the most stop() waits for it
    poll_interval: ClassVar[float] = 0.02

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._connections: set[socket.socket] = set()

    def start(self) -> Self:
        """Serve on a free port of 127.0.0.1, from a daemon thread."""
        handler = type(self.handler.__name__, (self.handler,), {"emulator": self})
        self._server = _Server((HOST, 0), handler)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and hang up on kept-alive connections: the service is unreachable."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # kept-alive connections would otherwise go on being served
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; the port stays the service's after :meth:`stop`."""
        assert self._port is not None, "start() the emulator first"
        return f"http://{HOST}:{self._port}"

    @classmethod
    def module_fixture(cls, name: str) -> Any:
        """A module-scoped pytest fixture ``name``: one ``cls()``, started, for the module."""

        def serve() -> Iterator[FakeService]:
            with cls() as service:
                yield service

        serve.__doc__ = f"One {cls.__name__}, started, for the test module."
        return pytest.fixture(scope="module", name=name)(serve)
