"""Containers as local processes, sandboxed with bubblewrap where it is installed.

Under bubblewrap a container sees the host read-only, its own empty ``/tmp``, and its working
directory writable; it dies with the control plane. Without bubblewrap it is a plain child
process, and the provider says so once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from strato.plugins.local.forkserver import ForkServer, ForkServerError, use_fork_server
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)

FORK_SERVER_IDLE_S = 300.0
_GRACE_S = 30.0  # exit hooks get 30 s, as on Modal


@cache
def bubblewrap_path() -> str | None:
    """The bwrap binary if it is installed and can create a sandbox here, else None."""
    if os.environ.get("STRATO_NO_SANDBOX"):
        return None
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = subprocess.run(
        [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True,
    )
    return path if probe.returncode == 0 else None


@cache
def local_gpus() -> list[str]:
    """Names of the NVIDIA GPUs on this machine (empty without ``nvidia-smi``)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in out.splitlines() if line.startswith("GPU ")]


class LocalProvider:
    """Starts each container as a worker-agent process on this machine."""

    name = "local"

    def __init__(self, log_dir: Path | None = None) -> None:
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._fork_servers: dict[tuple[Any, ...], ForkServer] = {}
        self._fork_used: dict[tuple[Any, ...], float] = {}
        self._terminated: set[str] = set()
        self._lock = threading.Lock()
        self._log_dir = log_dir
        self.capabilities = Capabilities(
            spot=False,
            multi_gpu=len(local_gpus()) > 1,
            bucket_mounts=False,
            regions=("local",),
            max_gpus_per_machine=len(local_gpus()),
            unsupported={
                "region": "the local machine is in no cloud region",
                "spot": "local containers are never preempted",
            },
        )

    def gpus(self) -> list[str]:
        """The GPUs this machine can give containers."""
        return local_gpus()

    def check_credentials(self) -> CredentialCheck:
        sandbox = "bubblewrap sandbox" if bubblewrap_path() else "plain processes (no bubblewrap)"
        return CredentialCheck(True, f"no credentials needed; containers run as {sandbox}")

    def notices(self, spec: ContainerSpec) -> list[str]:
        """What this provider cannot honour for ``spec``, one line each."""
        notes = []
        if spec.gpu and not local_gpus():
            notes.append(f"no GPU on this machine: running without gpu={spec.gpu!r}")
        if spec.region:
            notes.append(f"region={spec.region!r} is ignored: the local machine has no region")
        if spec.cloud and spec.cloud not in ("local", "auto"):
            notes.append(f"cloud={spec.cloud!r} is ignored: no provider for it is loaded")
        if bubblewrap_path() is None:
            notes.append("bubblewrap not found: containers run as plain processes, not sandboxed")
            if spec.mounts:
                notes.append("volumes and image files need bubblewrap to appear at their paths")
        return notes

    def sandbox_command(
        self,
        spec: ContainerSpec,
        workdir: str,
        module: str = "strato.runtime.worker",
        argv: list[str] | None = None,
    ) -> list[str]:
        """The command that runs ``python -m module`` (or ``argv``) for ``spec`` in a sandbox
        of its own: the host read-only on a private root, a private ``/tmp``, ``workdir``
        writable, and the spec's mounts at their paths (unsandboxed without bubblewrap)."""
        agent = argv or [spec.python or sys.executable, "-m", module]
        bwrap = bubblewrap_path()
        if bwrap is None:
            return agent
        cmd = [
            bwrap,
            *_host_root_args(),
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--die-with-parent",
            "--new-session",
        ]  # fmt: skip
        # The tmpfs hides the host's /tmp: bring back the code the function needs from there,
        # and Python itself and Strato when they live there (a virtualenv in /tmp).
        for path in dict.fromkeys([*spec.python_path, *_runtime_paths(spec.python)]):
            if path.startswith("/tmp") and os.path.isdir(path):
                cmd += ["--ro-bind", path, path]
        cmd += ["--bind", workdir, workdir]
        # an image's files and the function's volumes, at the paths the function sees
        for mount in spec.mounts:
            flag = "--ro-bind" if mount.get("read_only") else "--bind"
            cmd += [flag, str(mount["source"]), str(mount["target"])]
        cmd += ["--chdir", workdir]
        if module != "strato.runtime.worker":
            # the fork server's children open their own log files there
            log_dir = str(self.log_dir())
            cmd += ["--bind", log_dir, log_dir]
        return cmd + agent

    def provision(self, spec: ContainerSpec, offer: object = None) -> ContainerHandle:
        workdir = spec.workdir or os.getcwd()
        env = dict(os.environ)
        env.update(spec.env)
        env.update(
            {
                "STRATO_SERVER_URL": spec.server_url,
                "STRATO_CONTAINER_ID": spec.container_id,
                "STRATO_CONTAINER_TOKEN": spec.token,
                "STRATO_CLOUD_PROVIDER": "local",
                "MODAL_CLOUD_PROVIDER": "local",
                "STRATO_REGION": "local",
                "MODAL_REGION": "local",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if spec.python_path:
            env["PYTHONPATH"] = os.pathsep.join(
                [*spec.python_path, *filter(None, [env.get("PYTHONPATH")])]
            )
        gpus = local_gpus()
        if spec.gpu and gpus:
            count = int(spec.gpu.rsplit(":", 1)[1]) if ":" in spec.gpu else 1
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(min(count, len(gpus))))
        log_path = self.log_dir() / f"{spec.container_id}.log"
        if use_fork_server():
            key = _sandbox_key(spec, workdir)
            try:
                pid = self._fork_server(key, spec, workdir).fork(
                    env, workdir, spec.python_path, str(log_path)
                )
            except ForkServerError:
                self._fork_servers.pop(key, None)
            else:
                return self._handle(spec, {"pid": pid, "forked": True})
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                self.sandbox_command(spec, workdir),
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=bubblewrap_path() is None,
            )
        self._procs[spec.container_id] = proc
        threading.Thread(target=proc.wait, daemon=True, name=f"reap-{spec.container_id}").start()
        return self._handle(spec, {"pid": proc.pid})

    def _handle(self, spec: ContainerSpec, data: dict[str, object]) -> ContainerHandle:
        return ContainerHandle(
            provider=self.name,
            container_id=spec.container_id,
            data=data,
            region="local",
            instance_type="local",
        )

    def _close_idle_fork_servers(self, keep: tuple[Any, ...]) -> None:
        """Templates unused for FORK_SERVER_IDLE_S go (each sandbox layout has its own, and a
        bucket mount or a test's working directory makes a new layout)."""
        now = time.monotonic()
        for key, server in list(self._fork_servers.items()):
            if key != keep and now - self._fork_used.get(key, now) > FORK_SERVER_IDLE_S:
                server.close()
                self._fork_servers.pop(key, None)
                self._fork_used.pop(key, None)

    def _fork_server(
        self, key: tuple[str, tuple[str, ...]], spec: ContainerSpec, workdir: str
    ) -> ForkServer:
        with self._lock:
            self._close_idle_fork_servers(keep=key)
            self._fork_used[key] = time.monotonic()
            server = self._fork_servers.get(key)
            if server is None or not server.alive():
                command = self.sandbox_command(spec, workdir, module="strato.runtime.forkserver")
                server = ForkServer(
                    command, workdir, self.log_dir() / f"forkserver-{len(self._fork_servers)}.log"
                )
                self._fork_servers[key] = server
            return server

    def prewarm(self, workdir: str | None = None) -> None:
        """Start the fork server for ``workdir`` now, so the first container starts fast."""
        if not use_fork_server():
            return
        workdir = workdir or os.getcwd()
        spec = ContainerSpec("prewarm", "", "", "", "", "")
        try:
            self._fork_server(_sandbox_key(spec, workdir), spec, workdir)
        except ForkServerError:
            pass

    def log_dir(self) -> Path:
        """Where each container's own stdout and stderr go (what it prints before the agent
        captures its output, such as an interpreter that fails to start)."""
        if self._log_dir is None:
            from strato.config import data_dir

            self._log_dir = data_dir() / "containers"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return self._log_dir

    def exit_details(self, handle: ContainerHandle) -> str:
        """The exit code and the tail of what the container printed before it was ready."""
        code = self.exit_code(handle)
        try:
            tail = (self.log_dir() / f"{handle.container_id}.log").read_bytes()[-2000:]
        except OSError:
            tail = b""
        text = tail.decode(errors="replace").strip()
        return f"exit code {code}" + (f"\n{text}" if text else "")

    def status(self, handle: ContainerHandle) -> InstanceState:
        if handle.data.get("forked"):
            return (
                InstanceState.RUNNING
                if _pid_alive(int(handle.data["pid"]))
                else InstanceState.STOPPED
            )  # type: ignore[arg-type]
        proc = self._procs.get(handle.container_id)
        if proc is None:
            return InstanceState.UNKNOWN
        code = proc.poll()
        if code is None:
            return InstanceState.RUNNING
        stopped = code == 0 or handle.container_id in self._terminated  # we asked it to go
        return InstanceState.STOPPED if stopped else InstanceState.FAILED

    def exit_code(self, handle: ContainerHandle) -> int | None:
        proc = self._procs.get(handle.container_id)
        return None if proc is None else proc.poll()

    def terminate(self, handle: ContainerHandle) -> None:
        if handle.data.get("forked"):
            _signal_then_kill(int(handle.data["pid"]), _GRACE_S)  # type: ignore[arg-type]
            return
        proc = self._procs.get(handle.container_id)  # kept: status() reads its exit
        self._terminated.add(handle.container_id)
        if proc is not None and proc.poll() is None:
            _signal_then_kill(proc.pid, _GRACE_S)  # its reaper thread collects the exit


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_then_kill(pid: int, grace: float) -> None:
    """SIGTERM now (the agent runs ``@exit`` hooks), SIGKILL if still alive after ``grace``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def _kill_later() -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    threading.Thread(target=_kill_later, daemon=True).start()


def _sandbox_key(spec: ContainerSpec, workdir: str) -> tuple[Any, ...]:
    """Containers that can share one fork server: same Python, working dir and mounts."""
    tmp_paths = tuple(sorted(p for p in spec.python_path if p.startswith("/tmp")))
    mounts = tuple(
        sorted((str(m["source"]), str(m["target"]), bool(m.get("read_only"))) for m in spec.mounts)
    )
    return (spec.python or sys.executable, workdir, tmp_paths, mounts)


@cache
def _strato_roots() -> tuple[str, ...]:
    import strato

    roots = {os.path.dirname(os.path.dirname(os.path.abspath(strato.__file__)))}
    for name in ("core", "plugins", "regions", "pricing"):
        module = sys.modules.get(f"strato.{name}")
        if module is not None and getattr(module, "__file__", None):
            roots.add(os.path.dirname(os.path.dirname(os.path.abspath(module.__file__))))
    return tuple(sorted(roots))


def _runtime_paths(python: str | None) -> list[str]:
    """Where the interpreter, its packages and Strato itself live on this machine."""
    paths = [sys.prefix, sys.exec_prefix, sys.base_prefix, *_strato_roots()]
    paths += [p for p in sys.path if p and os.path.isabs(p)]
    if python:
        paths.append(os.path.dirname(os.path.dirname(os.path.abspath(python))))
    return paths


@cache
def _host_root_args() -> tuple[str, ...]:
    """The host, read-only, on a fresh tmpfs root: every top-level folder bound and every
    top-level link recreated. The root itself stays writable inside the sandbox, so a mount
    point that does not exist on the host (a volume at ``/data``, image files at ``/app``)
    can still be created."""
    args: list[str] = ["--tmpfs", "/"]
    for name in sorted(os.listdir("/")):
        path = "/" + name
        if name in ("proc", "dev", "tmp"):
            continue
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
        elif os.path.isfile(path):
            args += ["--ro-bind", path, path]
    return tuple(args)
