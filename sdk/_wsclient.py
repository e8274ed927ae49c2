"""A small blocking WebSocket client (RFC 6455), standard library only.

Containers import this at start-up, so it is kept tiny: the ``websockets`` package costs more
than 100 ms to import, which is the whole cold-start budget. It speaks binary frames, answers
pings, and masks with a random key (XOR done on one big integer, so it runs at C speed).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketClosed(Exception):
    """The connection is closed; ``code`` is the close code the peer sent, if any."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"websocket closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class HandshakeError(Exception):
    """The server refused the upgrade; ``status`` is its HTTP status code."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"websocket handshake failed with HTTP {status}: {body[:200]!r}")
        self.status = status


class WebSocket:
    """One client connection. ``send`` may be called from any thread; ``recv`` from one."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0):
        parts = urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self._sock = sock
        self._send_lock = threading.Lock()
        self._buf = bytearray()
        self.closed = False
        self._handshake(host, port, path, headers or {})
        sock.settimeout(None)

    def _handshake(self, host: str, port: int, path: str, headers: dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16))
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HandshakeError(0, bytes(self._buf))
            self._buf += chunk
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            raise HandshakeError(status, rest)
        self._buf = bytearray(rest)

    # -- sending ---------------------------------------------------------------------------
    def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        """Send one message as a single masked frame."""
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        if n:
            key = (mask * (n // 4 + 1))[:n]
            masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
                n, "little"
            )
        else:
            masked = b""
        with self._send_lock:
            if self.closed:
                raise WebSocketClosed()
            try:
                self._sock.sendall(header + mask + masked)
            except OSError as exc:
                self.closed = True
                raise WebSocketClosed() from exc

    # -- receiving -------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                chunk = self._sock.recv(max(65536, n - len(self._buf)))
            except OSError as exc:
                self.closed = True
                raise WebSocketClosed() from exc
            if not chunk:
                self.closed = True
                raise WebSocketClosed()
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def recv(self) -> bytes:
        """Block until one whole message arrives and return its payload."""
        message = bytearray()
        while True:
            b1, b2 = self._read(2)
            opcode, fin, n = b1 & 0x0F, b1 & 0x80, b2 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read(8))
            payload = self._read(n) if n else b""
            if opcode == OP_PING:
                self.send(payload, OP_PONG)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self._close_quietly(payload[:2])
                raise WebSocketClosed(code, payload[2:].decode(errors="replace"))
            message += payload
            if fin:
                return bytes(message)

    # -- closing ---------------------------------------------------------------------------
    def _close_quietly(self, code: bytes = b"\x03\xe8") -> None:
        try:
            self.send(code, OP_CLOSE)
        except WebSocketClosed:
            pass
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self.closed:
            self._close_quietly()
