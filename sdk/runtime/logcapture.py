"""Capture a container's stdout and stderr at the file-descriptor level and ship them as lines.

File descriptors 1 and 2 are replaced by pipes, so output from C extensions and subprocesses is
captured too. A reader thread ships lines as they come; :meth:`LogCapture.drain` ships whatever
is buffered right now, which the agent calls before sending an output so that a function's
prints reach the caller before its result.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any


class LogCapture:
    """Replaces fds 1 and 2 with pipes and forwards what is written as ``[fd, text]`` items."""

    def __init__(self, ship: Callable[[list[list[Any]]], None]) -> None:
        self._ship = ship
        self._lock = threading.Lock()
        self._pipes: dict[int, int] = {}  # read end -> fd it captures
        self._partial: dict[int, bytes] = {1: b"", 2: b""}
        self.original_stderr = os.dup(2)

    def start(self) -> None:
        for fd in (1, 2):
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            os.dup2(write_end, fd)
            os.close(write_end)
            self._pipes[read_end] = fd
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        threading.Thread(target=self._pump, daemon=True, name="strato-logs").start()

    def _pump(self) -> None:
        while True:
            try:
                readable, _, _ = select.select(list(self._pipes), [], [], 1.0)
            except (OSError, ValueError):
                return
            if readable:
                self.drain(partial=False)

    def drain(self, partial: bool = True) -> None:
        """Ship everything written so far; ``partial`` also ships an unfinished last line."""
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        with self._lock:
            items: list[list[Any]] = []
            for read_end, fd in self._pipes.items():
                data = self._partial[fd]
                while True:
                    try:
                        chunk = os.read(read_end, 1 << 16)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    continue
                if partial:
                    text, rest = data, b""
                else:
                    cut = data.rfind(b"\n") + 1
                    text, rest = data[:cut], data[cut:]
                self._partial[fd] = rest
                if text:
                    items.append([fd, text.decode(errors="replace")])
            if items:
                self._ship(items)
