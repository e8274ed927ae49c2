"""The worker agent: the process that is a container.

It connects to the control plane's container stream with its per-container token, loads the
user's function (by module and qualified name, or unpickled), runs ``@enter`` hooks once, then
runs the inputs it is sent and returns their outputs, in batches when inputs queue up. Whatever
the user's code prints is shipped back as log lines, flushed ahead of the output it belongs to.

Kept light on imports on purpose: start-up time is cold-start time.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from strato import _protocol as proto
from strato._wsclient import WebSocket, WebSocketClosed
from strato.runtime.logcapture import LogCapture
from strato.runtime.runner import Runner, load_target

USAGE_EVERY_S = 5.0


class Agent:
    """One container's connection and input loop."""

    def __init__(self, url: str, container_id: str, token: str) -> None:
        self.url = url
        self.token = token
        self.container_id = container_id
        self.ws = WebSocket(
            url.replace("http://", "ws://").replace("https://", "wss://") + "/v1/containers/stream",
            headers={"Authorization": f"Bearer {token}", "X-Strato-Container": container_id},
        )
        self.stopping = threading.Event()
        self.logs: LogCapture | None = None
        self.runner: Runner | None = None
        self.mounts: Any = None  # MachineMounts, when this container mounts volumes itself

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(proto.pack(message))

    def run(self) -> int:
        hello = proto.unpack(self.ws.recv())
        if hello.get("t") != "hello":
            return 2
        definition = hello["function"]
        os.environ.update(hello.get("env") or {})  # secrets: never in the start-up script
        os.environ["STRATO_APP_ID"] = hello.get("app_id", "")
        os.environ["STRATO_FUNCTION_ID"] = hello.get("function_id", "")
        self.logs = LogCapture(self._send_logs)
        self.logs.start()
        try:
            if definition.get("source"):
                from strato.runtime.source import fetch

                fetch(definition, self.url, self.token)
            if hello.get("mounts"):
                from strato.runtime.mounts import activate

                self.mounts = activate(hello["mounts"], self.container_id)
            target = load_target(definition)
            self.runner = Runner(target, definition, self._emit_outputs, self._on_timeout)
            self.runner.enter()
        except BaseException as exc:  # noqa: BLE001 - report any start-up failure
            from strato._serialization import serialize_exception

            self.logs.drain()
            self.send({"t": "failed", "error": serialize_exception(exc)})
            self.ws.close()
            return 1
        self.send({"t": "ready"})
        signal.signal(signal.SIGTERM, lambda *_: self._stop_from_signal())
        threading.Thread(
            target=self._report_usage_forever, daemon=True, name="strato-usage"
        ).start()
        try:
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        assert self.runner is not None
        while not self.stopping.is_set():
            try:
                message = proto.unpack(self.ws.recv())
            except WebSocketClosed:
                return
            kind = message["t"]
            if kind == "inputs":
                self.runner.submit(message["items"])
            elif kind == "cancel":
                self.runner.cancel(message["inputs"])
            elif kind == "stop":
                return

    def _report_usage(self) -> None:
        """CPU seconds and peak memory so far, for the cost ledger (usage vs reservation)."""
        import resource

        me = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
        rss_mib = max(me.ru_maxrss, children.ru_maxrss) / 1024
        try:
            self.send({"t": "usage", "cpu_s": cpu, "rss_mib": rss_mib})
        except WebSocketClosed:
            pass

    def _report_usage_forever(self) -> None:
        while not self.stopping.wait(USAGE_EVERY_S):
            self._report_usage()

    def _send_logs(self, items: list[list[Any]]) -> None:
        try:
            self.send({"t": "log", "items": items})
        except WebSocketClosed:
            pass

    def _emit_outputs(self, items: list[list[Any]]) -> None:
        if self.logs is not None:
            self.logs.drain()
        try:
            self.send({"t": "out", "items": items})
        except WebSocketClosed:
            pass

    def _on_timeout(self) -> None:
        """A synchronous input ran out of time: its thread cannot be stopped, so the container
        goes; the control plane starts a fresh one for the inputs still queued."""
        self._shutdown(run_exit=False)
        os._exit(3)

    def _stop_from_signal(self) -> None:
        self.stopping.set()
        self.ws.close()

    def _shutdown(self, run_exit: bool = True) -> None:
        if self.runner is not None and run_exit:
            self.runner.exit()
        if self.mounts is not None:
            self.mounts.finish(normal=run_exit)
        if not self.ws.closed:
            self._report_usage()
        if self.logs is not None:
            self.logs.drain()
        self.ws.close()


def main() -> int:
    """Entry point: ``python -m strato.runtime.worker`` with the container's environment."""
    try:
        agent = Agent(
            os.environ["STRATO_SERVER_URL"],
            os.environ["STRATO_CONTAINER_ID"],
            os.environ["STRATO_CONTAINER_TOKEN"],
        )
    except Exception as exc:  # noqa: BLE001
        print(f"strato worker: cannot reach the control plane: {exc}", file=sys.stderr)
        return 2
    code = agent.run()
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
