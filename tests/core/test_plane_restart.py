"""A standalone control plane killed and restarted mid-map loses and duplicates nothing.

The client is a separate process mapping over 10,000 inputs. Inputs from 5,000 on wait for a
release file in the containers' working directory, so the kill always lands mid-map: the
first half is done, the rest is queued, running or not yet submitted. The server is killed
with SIGKILL (its containers die with it), restarted on the same port and data dir, and the
release file is written; the plane must rebuild its queues from its database and the client
must reconnect and replay what was not acknowledged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

STRATO = os.path.join(os.path.dirname(sys.executable), "strato")
N_INPUTS = 10_000
GATE = 5_000

CLIENT_SCRIPT = textwrap.dedent(
    f"""
    import os
    import time

    import strato

    app = strato.App("plane-restart-map")


    @app.function()
    def slow_square(x):
        if x >= {GATE}:
            while not os.path.exists("released"):
                time.sleep(0.01)
        time.sleep(0.001)
        return x * x


    if __name__ == "__main__":
        with app.run():
            results = []
            for value in slow_square.map(range({N_INPUTS})):
                results.append(value)
                if len(results) % 500 == 0:
                    print("PROGRESS", len(results), flush=True)
            print("LEN", len(results), flush=True)
            print("EQUAL", results == [x * x for x in range({N_INPUTS})], flush=True)
            print("DISTINCT", len(set(results)), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "STRATO_CONFIG_DIR": str(root / "config")}
    env["STRATO_DATA_DIR"] = str(root / "data")
    env.pop("STRATO_SERVER_URL", None)
    env.pop("STRATO_TOKEN", None)
    env.update(extra)
    return env


def _start_server(root: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [STRATO, "server", "--port", str(port)],
        cwd=root / "work",
        env=_env(root),
        stdout=subprocess.DEVNULL,
        stderr=open(root / f"server-{time.monotonic_ns()}.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"strato server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("strato server did not become healthy within 30 s")


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.timeout(180)
def test_map_survives_a_plane_restart_with_no_output_lost_or_duplicated(tmp_path):
    for name in ("config", "data", "work"):
        (tmp_path / name).mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    script = tmp_path / "work" / "restart_client.py"
    script.write_text(CLIENT_SCRIPT)
    server = client = None
    lines: list[str] = []
    try:
        server = _start_server(tmp_path, port)
        token = (tmp_path / "config" / "token").read_text().strip()
        client = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path / "work",
            env=_env(tmp_path, STRATO_SERVER_URL=url, STRATO_TOKEN=token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        half_done = threading.Event()

        def read_stdout() -> None:
            assert client is not None and client.stdout is not None
            for line in client.stdout:
                lines.append(line.strip())
                if line.startswith("PROGRESS") and int(line.split()[1]) >= GATE - 1000:
                    half_done.set()

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        assert half_done.wait(90), f"the map made no progress: {lines[-3:]}"
        time.sleep(0.3)  # let the gated inputs reach containers and the database

        _kill(server)
        server = None
        time.sleep(0.5)
        server = _start_server(tmp_path, port)
        (tmp_path / "work" / "released").touch()

        client.wait(timeout=120)
        reader.join(timeout=10)
        stderr = client.stderr.read() if client.stderr else ""
        assert client.returncode == 0, stderr[-3000:]
    finally:
        _kill(server)
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(timeout=10)

    assert f"LEN {N_INPUTS}" in lines
    assert "EQUAL True" in lines
    assert f"DISTINCT {N_INPUTS}" in lines
    progress = [int(line.split()[1]) for line in lines if line.startswith("PROGRESS")]
    assert progress == list(range(500, N_INPUTS + 1, 500))
