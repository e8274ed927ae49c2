"""The standalone control plane (``strato server``) refuses anyone without its token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

STRATO = os.path.join(os.path.dirname(sys.executable), "strato")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A ``strato server`` subprocess and the directories it owns."""

    port: int
    config_dir: Path
    data_dir: Path
    workdir: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "STRATO_CONFIG_DIR": str(self.config_dir)}
        env["STRATO_DATA_DIR"] = str(self.data_dir)
        env.pop("STRATO_SERVER_URL", None)
        env.pop("STRATO_TOKEN", None)
        env.update(extra)
        return env

    def token(self) -> str:
        return (self.config_dir / "token").read_text().strip()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [STRATO, "server", "--port", str(self.port)],
            cwd=self.workdir,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"strato server exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("strato server did not become healthy within 30 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc.stderr.close()
        self.proc = None


def _make_server(root: Path) -> Server:
    for name in ("config", "data", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return Server(_free_port(), root / "config", root / "data", root / "work")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = _make_server(tmp_path_factory.mktemp("server-auth"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_token_file_is_created_on_first_start_and_private(server):
    path = server.config_dir / "token"
    assert path.exists()
    assert len(server.token()) >= 32
    assert path.stat().st_mode & 0o077 == 0


def test_health_needs_no_token(server):
    response = httpx.get(f"{server.url}/v1/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_no_token_is_refused(server):
    response = httpx.get(f"{server.url}/v1/apps")
    assert response.status_code == 401


def test_malformed_authorization_header_is_refused(server):
    response = httpx.get(f"{server.url}/v1/apps", headers={"Authorization": server.token()})
    assert response.status_code == 401


def test_wrong_token_is_refused_and_reveals_nothing(server):
    right = {"Authorization": f"Bearer {server.token()}"}
    created = httpx.post(f"{server.url}/v1/apps", json={"name": "secret-app-name"}, headers=right)
    assert created.status_code == 200
    app_id = created.json()["app_id"]
    wrong = {"Authorization": "Bearer not-the-token"}
    for method, path in [
        ("GET", "/v1/apps"),
        ("GET", f"/v1/apps/{app_id}"),
        ("GET", f"/v1/apps/{app_id}/logs"),
        ("POST", "/v1/apps"),
    ]:
        response = httpx.request(method, f"{server.url}{path}", headers=wrong, json={"name": "x"})
        assert response.status_code == 401, path
        assert "secret-app-name" not in response.text
        assert app_id not in response.text
        assert "apps" not in response.json()


def test_right_token_lists_apps(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    created = httpx.post(f"{server.url}/v1/apps", json={"name": "listed-app"}, headers=headers)
    app_id = created.json()["app_id"]
    response = httpx.get(f"{server.url}/v1/apps", headers=headers)
    assert response.status_code == 200
    assert app_id in [row["id"] for row in response.json()["apps"]]


def test_session_websocket_refuses_a_wrong_token(server):
    ws_url = f"ws://127.0.0.1:{server.port}/v1/session"
    with pytest.raises(InvalidStatus) as info:
        with connect(ws_url, additional_headers={"Authorization": "Bearer wrong"}):
            pass
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        with connect(ws_url):
            pass
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {server.token()}"}) as ws:
        assert ws.protocol.state.name == "OPEN"


def test_container_stream_refuses_an_unknown_container(server):
    ws_url = f"ws://127.0.0.1:{server.port}/v1/containers/stream"
    headers = {"Authorization": f"Bearer {server.token()}", "X-Strato-Container": "ct-0000"}
    with pytest.raises(InvalidStatus) as info:
        with connect(ws_url, additional_headers=headers):
            pass
    assert info.value.response.status_code == 401


def test_cli_with_a_wrong_token_fails_with_a_hint(server):
    result = subprocess.run(
        [STRATO, "app", "list"],
        env=server.env(STRATO_SERVER_URL=server.url, STRATO_TOKEN="wrong"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "token" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_cli_with_the_right_token_lists_apps(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    app_id = httpx.post(
        f"{server.url}/v1/apps", json={"name": "cli-listed"}, headers=headers
    ).json()["app_id"]
    result = subprocess.run(
        [STRATO, "app", "list"],
        env=server.env(STRATO_SERVER_URL=server.url, STRATO_TOKEN=server.token()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert app_id in result.stdout and "cli-listed" in result.stdout


CLIENT_SCRIPT = textwrap.dedent(
    """
    import strato

    app = strato.App("remote-client-flow")


    @app.function()
    def triple(x):
        import os
        return (x * 3, os.environ["STRATO_CONTAINER_ID"])


    if __name__ == "__main__":
        with app.run():
            value, container = triple.remote(2)
            print("RESULT", value)
            print("CONTAINER", container)
            print("MAP", list(x for x, _ in triple.map(range(5))))
    """
)


def test_full_client_flow_against_the_standalone_server(server):
    script = server.workdir / "client_flow.py"
    script.write_text(CLIENT_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=server.workdir,
        env=server.env(STRATO_SERVER_URL=server.url, STRATO_TOKEN=server.token()),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "RESULT 6" in result.stdout
    assert "MAP [0, 3, 6, 9, 12]" in result.stdout
    # the app was registered with, and stopped on, the standalone server
    headers = {"Authorization": f"Bearer {server.token()}"}
    apps = httpx.get(f"{server.url}/v1/apps", headers=headers).json()["apps"]
    flow = [row for row in apps if row.get("name") == "remote-client-flow"]
    assert len(flow) == 1 and flow[0]["state"] == "stopped"


def test_client_with_a_wrong_token_gets_auth_error(server):
    script = server.workdir / "client_wrong_token.py"
    script.write_text(
        textwrap.dedent(
            """
            import strato

            app = strato.App("never-created")

            try:
                with app.run():
                    pass
            except strato.exception.AuthError:
                print("AUTH-ERROR")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=server.workdir,
        env=server.env(STRATO_SERVER_URL=server.url, STRATO_TOKEN="wrong"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "AUTH-ERROR" in result.stdout, result.stderr
    headers = {"Authorization": f"Bearer {server.token()}"}
    apps = httpx.get(f"{server.url}/v1/apps", headers=headers).json()["apps"]
    assert not [row for row in apps if row.get("name") == "never-created"]


def test_token_new_prints_a_different_token_used_after_restart(tmp_path):
    srv = _make_server(tmp_path)
    try:
        srv.start()
        old = srv.token()
        result = subprocess.run(
            [STRATO, "token", "new"], env=srv.env(), capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        new = result.stdout.strip()
        assert new and new != old
        assert srv.token() == new
        shown = subprocess.run(
            [STRATO, "token", "show"], env=srv.env(), capture_output=True, text=True, timeout=60
        )
        assert shown.stdout.strip() == new
        srv.stop()
        srv.start()
        apps = f"{srv.url}/v1/apps"
        assert httpx.get(apps, headers={"Authorization": f"Bearer {new}"}).status_code == 200
        assert httpx.get(apps, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    finally:
        srv.stop()
