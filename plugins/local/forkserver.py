"""The provider's side of the fork server (see ``strato.runtime.forkserver``).

One template process per sandbox layout; containers are forked from it in a few milliseconds
instead of started from scratch. Containers forked from the same template share its private
``/tmp``; ``STRATO_LOCAL_FORK_SERVER=0`` starts every container as a fresh sandboxed process.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 60.0


def use_fork_server() -> bool:
    """Whether local containers are forked from a template (the default on Linux)."""
    return os.environ.get("STRATO_LOCAL_FORK_SERVER", "1") != "0" and hasattr(os, "fork")


class ForkServerError(Exception):
    """The template process is gone or failed to start."""


class ForkServer:
    """A running template process and the pipe to ask it for containers."""

    def __init__(self, command: list[str], workdir: str, log_path: Path) -> None:
        self._lock = threading.Lock()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=dict(os.environ),
            )
        threading.Thread(target=self.proc.wait, daemon=True, name="forkserver-reaper").start()
        self._read()  # {"ready": true} once the runtime is imported

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise ForkServerError("the fork server exited")
        return json.loads(line)  # type: ignore[no-any-return]

    def fork(self, env: dict[str, str], cwd: str, python_path: list[str], log: str) -> int:
        """Start one container; returns its pid."""
        request = json.dumps({"env": env, "cwd": cwd, "python_path": python_path, "log": log})
        with self._lock:
            if not self.alive() or self.proc.stdin is None:
                raise ForkServerError("the fork server is not running")
            try:
                self.proc.stdin.write(request.encode() + b"\n")
                self.proc.stdin.flush()
                return int(self._read()["pid"])
            except (OSError, ValueError, KeyError) as exc:
                raise ForkServerError(str(exc)) from exc

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
