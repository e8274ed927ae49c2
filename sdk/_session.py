"""The caller's stream to the control plane: submits inputs, receives outputs and logs.

One WebSocket per client, read by a background thread that routes each message to the
:class:`CallHandle` it belongs to. If the connection drops (a restarted control plane), the
session reconnects, resubmits every input not yet acknowledged as durable, and asks for the
outputs it has not seen; handles drop duplicates, so each output is delivered once.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from strato import _protocol as proto
from strato._wsclient import HandshakeError, WebSocket, WebSocketClosed
from strato.exception import AuthError, ConnectionError

RECONNECT_FOR_S = 120.0


class CallHandle:
    """The caller's side of one call: inputs awaiting acknowledgement, outputs received."""

    def __init__(self, session: Session, call_id: str, function_id: str, mode: str) -> None:
        self.session = session
        self.call_id = call_id
        self.function_id = function_id
        self.mode = mode
        self.cond = threading.Condition()
        self.unacked: dict[int, list[Any]] = {}  # idx -> [idx, args, method]
        self.acked_upto = 0
        self.outputs: dict[int, tuple[int, bytes | None]] = {}
        self.gen_items: dict[int, dict[int, bytes]] = {}
        self.received: set[int] = set()
        self.received_upto = 0  # every idx below has been received
        self.finished = 0
        self.error: tuple[str, str] | None = None
        self.listeners: list[Callable[[], None]] = []
        self.last_sent = False
        self.confirmed_upto = 0

    # -- called from the reader thread -------------------------------------------------------
    def _notify(self) -> None:
        self.cond.notify_all()
        for listener in self.listeners:
            listener()

    def on_acked(self, upto: int) -> None:
        with self.cond:
            self.acked_upto = max(self.acked_upto, upto)
            for idx in [i for i in self.unacked if i < upto]:
                del self.unacked[idx]
            self._notify()

    def on_out(self, items: list[list[Any]]) -> None:
        with self.cond:
            for idx, status, data, seq in items:
                if idx in self.received:
                    continue
                if status == proto.GEN_ITEM:
                    self.gen_items.setdefault(idx, {})[seq] = data
                    continue
                self.received.add(idx)
                self.outputs[idx] = (status, data)
                self.finished += 1
            while self.received_upto in self.received:
                self.received.discard(self.received_upto)
                self.received_upto += 1
            # `received` keeps only indices above the watermark
            self._notify()

    def seen(self, idx: int) -> bool:
        return idx < self.received_upto or idx in self.received

    def on_error(self, kind: str, message: str) -> None:
        with self.cond:
            self.error = (kind, message)
            self._notify()

    # -- called by the caller -----------------------------------------------------------------
    def submit(self, items: list[list[Any]], last: bool = False) -> None:
        """Send inputs; they are kept until acknowledged, for a replay after a reconnect."""
        with self.cond:
            for item in items:
                self.unacked[item[0]] = item
            self.last_sent = self.last_sent or last
        self.session.send(
            {
                "t": "submit",
                "call": self.call_id,
                "fn": self.function_id,
                "mode": self.mode,
                "items": items,
                "last": last,
            }
        )

    def confirm(self) -> None:
        """Tell the plane which outputs arrived, so it need not keep or rerun them."""
        with self.cond:
            upto, extra = self.received_upto, sorted(self.received)
        self.confirmed_upto = upto
        self.session.send({"t": "received", "call": self.call_id, "upto": upto, "extra": extra})

    def close(self) -> None:
        self.session.forget(self)


class Session:
    """A stream to the control plane, shared by every call of one client.

    Over a WebSocket by default; ``local=(plane, loop)`` hands messages straight to a
    control plane running in this process, with no socket and no serialization.
    """

    def __init__(
        self,
        url: str,
        token: str,
        log_sink: Callable[[int, str], None] | None = None,
        local: tuple[Any, Any] | None = None,
    ) -> None:
        self.url = url.replace("http://", "ws://").replace("https://", "wss://") + "/v1/session"
        self.token = token
        self.log_sink = log_sink or _print_log
        self.handles: dict[str, CallHandle] = {}
        self.log_apps: set[str] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._closing = False
        self._local = local
        self._rpcs: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._rpc_ids = itertools.count(1)
        if local is not None:
            from strato.core.plane import LocalPeer

            self._plane, self._loop = local
            self._peer = LocalPeer(self._route)
            self._connected.set()
            return
        self.ws = self._connect()
        self._connected.set()
        self._reader = threading.Thread(
            target=self._read_forever, daemon=True, name="strato-session"
        )
        self._reader.start()

    def _connect(self) -> WebSocket:
        try:
            return WebSocket(self.url, headers={"Authorization": f"Bearer {self.token}"})
        except HandshakeError as exc:
            if exc.status == 401 or exc.status == 403:
                raise AuthError("the control plane refused the token (set STRATO_TOKEN)") from None
            raise ConnectionError(f"cannot open a session at {self.url}: {exc}") from exc
        except OSError as exc:
            raise ConnectionError(f"cannot reach the control plane at {self.url}: {exc}") from exc

    def open_call(self, call_id: str, function_id: str, mode: str) -> CallHandle:
        handle = CallHandle(self, call_id, function_id, mode)
        with self._lock:
            self.handles[call_id] = handle
        return handle

    def forget(self, handle: CallHandle) -> None:
        """The caller is done with a call: the plane may drop what it kept for it."""
        with self._lock:
            self.handles.pop(handle.call_id, None)
        if not self._closing and not handle.mode.startswith("spawn"):
            try:
                self.send({"t": "close", "call": handle.call_id})
            except Exception:  # noqa: BLE001 - a lost close only delays the plane's cleanup
                pass

    def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        """Call ``method`` on the control plane and wait for its result."""
        done = threading.Event()
        box: list[dict[str, Any]] = []

        def deliver(answer: dict[str, Any]) -> None:
            box.append(answer)
            done.set()

        request_id = next(self._rpc_ids)
        self._rpcs[request_id] = deliver
        self.send({"t": "rpc", "id": request_id, "method": method, "params": params})
        if not done.wait(timeout):
            self._rpcs.pop(request_id, None)
            from strato.exception import TimeoutError

            raise TimeoutError(f"{method} got no answer within {timeout}s")
        return _rpc_result(box[0])

    async def rpc_async(self, method: str, params: dict[str, Any]) -> Any:
        """``rpc`` for event loops: waits without blocking a thread."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()

        def deliver(answer: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(answer))

        request_id = next(self._rpc_ids)
        self._rpcs[request_id] = deliver
        self.send({"t": "rpc", "id": request_id, "method": method, "params": params})
        return _rpc_result(await future)

    def subscribe_logs(self, app_id: str) -> None:
        self.log_apps.add(app_id)
        self.send({"t": "logs", "app": app_id})

    def send(self, message: dict[str, Any]) -> None:
        """Send, waiting out a reconnect; a submit lost meanwhile is replayed by the reconnect."""
        if self._local is not None:
            if self._closing:
                from strato.exception import ClientClosed

                raise ClientClosed("the client is closed")
            self._loop.call_soon_threadsafe(self._plane.session_message, self._peer, message)
            return
        data = proto.pack(message)
        for _ in range(2):
            try:
                self.ws.send(data)
                return
            except WebSocketClosed:
                if self._closing:
                    from strato.exception import ClientClosed

                    raise ClientClosed("the client is closed") from None
                if not self._connected.wait(RECONNECT_FOR_S):
                    raise ConnectionError(
                        "lost the control plane and could not reconnect"
                    ) from None
                if message.get("t") == "submit":
                    return  # the reconnect replayed it

    def _route(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "out":
            handle = self.handles.get(message["call"])
            if handle is not None:
                handle.on_out(message["items"])
        elif kind == "acked":
            handle = self.handles.get(message["call"])
            if handle is not None:
                handle.on_acked(message["upto"])
        elif kind == "log":
            for fd, text in message["items"]:
                self.log_sink(fd, text)
        elif kind == "error":
            handle = self.handles.get(message.get("call") or "")
            if handle is not None:
                handle.on_error(message["kind"], message["message"])
        elif kind == "rpc_result":
            waiter = self._rpcs.pop(message["id"], None)
            if waiter is not None:
                waiter(message)

    def _read_forever(self) -> None:
        while True:
            try:
                message = proto.unpack(self.ws.recv())
            except WebSocketClosed:
                self._fail_rpcs("the connection to the control plane was lost; retry the call")
                if self._closing or not self._reconnect():
                    self._fail_all("lost the connection to the control plane")
                    return
                continue
            self._route(message)

    def _reconnect(self) -> bool:
        self._connected.clear()
        deadline = time.monotonic() + RECONNECT_FOR_S
        delay = 0.05
        while time.monotonic() < deadline and not self._closing:
            try:
                ws = self._connect()
            except (ConnectionError, AuthError):
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.ws = ws
            try:
                self._replay()
            except WebSocketClosed:
                continue
            self._connected.set()
            return True
        return False

    def _replay(self) -> None:
        for app_id in self.log_apps:
            self.ws.send(proto.pack({"t": "logs", "app": app_id}))
        with self._lock:
            handles = list(self.handles.values())
        for handle in handles:
            with handle.cond:
                pending = sorted(handle.unacked.values())
                upto = handle.received_upto
                last = handle.last_sent
            self.ws.send(
                proto.pack(
                    {
                        "t": "resume",
                        "call": handle.call_id,
                        "fn": handle.function_id,
                        "received_upto": upto,
                    }
                )
            )
            for start in range(0, len(pending), 1000):
                chunk = pending[start : start + 1000]
                self.ws.send(
                    proto.pack(
                        {
                            "t": "submit",
                            "call": handle.call_id,
                            "fn": handle.function_id,
                            "mode": handle.mode,
                            "items": chunk,
                            "last": last and start + 1000 >= len(pending),
                            "replay": True,
                        }
                    )
                )

    def _fail_rpcs(self, message: str) -> None:
        """Pending request/response calls cannot be replayed safely (a put may have happened):
        they fail with ConnectionError and the caller decides."""
        for request_id in list(self._rpcs):
            waiter = self._rpcs.pop(request_id, None)
            if waiter is not None:
                waiter({"ok": False, "kind": "ConnectionError", "message": message})

    def _fail_all(self, message: str) -> None:
        self._connected.set()
        self._fail_rpcs(message)
        with self._lock:
            handles = list(self.handles.values())
        for handle in handles:
            handle.on_error("ConnectionError", message)

    def close(self) -> None:
        self._closing = True
        if self._local is not None:
            self._loop.call_soon_threadsafe(self._plane.session_closed, self._peer)
            self._peer.closed = True
        else:
            self.ws.close()


def _rpc_result(answer: dict[str, Any]) -> Any:
    if answer.get("ok"):
        return answer.get("result")
    from strato.client import error_from_response

    raise error_from_response(500, {"error": answer.get("kind"), "message": answer.get("message")})


def _print_log(fd: int, text: str) -> None:
    stream = sys.stderr if fd == 2 else sys.stdout
    stream.write(text)
    stream.flush()
