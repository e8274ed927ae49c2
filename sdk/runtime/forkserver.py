"""A template process that forks local containers with the runtime already imported.

Starting Python and importing the agent costs a few hundred milliseconds; forking a process
that has done it costs a few. The local provider starts one template per sandbox (working
directory and bind mounts) and asks it for containers over its stdin, one JSON line each::

    {"env": {...}, "cwd": "...", "python_path": [...], "log": "/path/to/container.log"}

and reads back ``{"pid": N}``. Each child dies with the template (``PR_SET_PDEATHSIG``), and
the template with the control plane. The template runs no threads, so forking is safe.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _become_container(request: dict) -> None:
    """In the forked child: take the container's environment and run the worker agent."""
    _die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[:0] = [p for p in request.get("python_path", []) if p not in sys.path]
    from strato.runtime import worker

    code = 1
    try:
        code = worker.main()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    """Import what containers need, then fork one per request until stdin closes."""
    import strato.app  # noqa: F401 - user modules import strato: have it loaded already
    import strato.runtime.worker  # noqa: F401

    try:
        import cloudpickle  # noqa: F401 - functions pickled by value need it to load
    except ImportError:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    _die_with_parent()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become_container(request)
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
