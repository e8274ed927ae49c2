"""The steps of a local image build: each layer's commands, run in its own directory.

:func:`run_step` runs one layer: the base layer creates a venv (``uv venv --relocatable``)
and makes Strato's agent importable in it (see :mod:`strato.core.objects.image_python`); every
later layer starts from a full copy of the previous layer's venv and applies its step there,
with the image's variables and the step's secrets in its environment. Output streams, line by
line, to the build log; a failing command raises :class:`BuildFailed` with its last lines.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from strato._dockerfile import RUN_FUNCTION_SCRIPT
from strato._image_layers import BASE_OPS
from strato.core.objects import image_python

_OUTPUT_TAIL = 25

#: ``say(kind, text)``: kind is "step" (progress), "out" (a tool's output) or "note"
Log = Callable[[str, str], None]


class BuildFailed(Exception):
    """A layer's step failed; the message carries the tool's own output."""

    def __init__(self, message: str, layer: int | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer
        self.step = step


def run_step(
    payload: Mapping[str, Any],
    folder: Path,
    previous_venv: str | None,
    env_vars: Mapping[str, str],
    python_downloads: bool,
    say: Log,
) -> dict[str, Any]:
    """Run one layer's step in ``folder`` (its files already copied there); return what
    the layer's record keeps (the interpreter of a base, a notice)."""
    op, args = payload["op"], payload["args"]
    runner = Runner(say)
    if op == "apt_install":
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        runner.run(["apt-get", "update"], env=env)
        runner.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *args["packages"]], env=env
        )
        return {}
    venv = folder / "venv"
    if op in BASE_OPS:
        return _base(payload, venv, runner, python_downloads)
    if previous_venv is None:
        raise BuildFailed(f"{op} needs a base image before it")
    _copy_tree(Path(previous_venv), venv)
    python = str(venv / "bin" / "python")
    uv = image_python.uv_binary()
    env = _step_env(venv, env_vars)
    context = folder / "context"
    scratch = folder / "build"
    scratch.mkdir()
    if args.get("gpu"):
        say("out", f"gpu={args['gpu']!r} is ignored by local builds")
    if op in ("pip_install", "uv_pip_install", "pip_install_from_pyproject"):
        command = [uv, "pip", "install", "--python", python, *_pip_flags(args)]
        for i in range(len(args.get("requirements") or [])):
            command += ["-r", str(context / f"requirements-{i}.txt")]
        runner.run(command + list(args.get("packages") or []), env=env)
    elif op == "pip_install_from_requirements":
        runner.run(
            [
                uv,
                "pip",
                "install",
                "--python",
                python,
                *_pip_flags(args),
                "-r",
                str(context / "requirements.txt"),
            ],
            env=env,
        )
    elif op == "micromamba_install":
        packages = [_conda_to_pip(p) for p in args.get("packages") or []]
        runner.run([uv, "pip", "install", "--python", python, *packages], env=env)
        return {"notice": "micromamba_install ran as `uv pip install` on the local provider"}
    elif op == "uv_sync":
        _uv_sync(args, context, python, env, runner)
    elif op == "poetry_install_from_file":
        _poetry(args, context, env, runner)
    elif op == "run_commands":
        for command in args["commands"]:
            runner.run(["/bin/sh", "-c", command], env=env, cwd=scratch)
    elif op == "run_function":
        (scratch / "payload.pkl").write_bytes(payload["extra"]["payload"])
        (scratch / "run_function.py").write_text(RUN_FUNCTION_SCRIPT)
        runner.run(
            [python, str(scratch / "run_function.py"), str(scratch / "payload.pkl")],
            env=env,
            cwd=scratch,
            timeout=float(args.get("timeout") or 3600),
        )
    else:
        raise BuildFailed(f"the local builder does not know the step {op!r}")
    return {}


def _base(
    payload: Mapping[str, Any], venv: Path, runner: Runner, python_downloads: bool
) -> dict[str, Any]:
    op, args = payload["op"], payload["args"]
    default = f"{sys.version_info.major}.{sys.version_info.minor}"
    version = args.get("python_version") or args.get("add_python") or default
    notices = []
    if op != "debian_slim":
        notices.append(
            f"{op}'s base image is not reproduced on the local provider: its containers "
            f"get a plain Python {version} environment"
        )
    python, notice = image_python.find_python(
        version, python_downloads, lambda text: runner.say("out", text)
    )
    if notice:
        notices.append(notice)
    uv = image_python.uv_binary()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    runner.run([uv, "venv", "--relocatable", "--python", python, str(venv)], env=env)
    venv_python = str(venv / "bin" / "python")
    try:
        runner.run(
            [
                uv,
                "pip",
                "install",
                "--python",
                venv_python,
                *image_python.runtime_requirements(pinned=True),
            ],
            env=env,
        )
    except BuildFailed:
        try:
            runner.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--python",
                    venv_python,
                    *image_python.runtime_requirements(pinned=False),
                ],
                env=env,
            )
        except BuildFailed:
            if python != sys.executable:
                raise
            image_python.borrow_host_packages(venv)
            notices.append(
                "Strato's runtime packages could not be installed (offline?): the image "
                "borrows this control plane's site-packages"
            )
    image_python.copy_strato(venv)
    # fail here, with the reason, rather than at every container start
    runner.run([venv_python, "-c", "import strato.runtime.worker"], env=env)
    return {"python": python, "notice": "; ".join(notices) or None}


def _uv_sync(
    args: Mapping[str, Any],
    context: Path,
    python: str,
    env: dict[str, str],
    runner: Runner,
) -> None:
    uv = image_python.uv_binary()
    exported = context / "exported-requirements.txt"
    command = [
        uv,
        "export",
        "--project",
        str(context),
        "--format",
        "requirements-txt",
        "--no-emit-project",
        "--no-emit-workspace",
        "--no-hashes",
        "--output-file",
        str(exported),
    ]
    if args.get("frozen") and args.get("has_lock"):
        command.append("--frozen")
    for group in args.get("groups") or []:
        command += ["--group", group]
    for extra in args.get("extras") or []:
        command += ["--extra", extra]
    command += shlex.split(args.get("extra_options") or "")
    runner.run(command, env={**env, "UV_PYTHON": python}, cwd=context)
    runner.run([uv, "pip", "install", "--python", python, "-r", str(exported)], env=env)


def _poetry(
    args: Mapping[str, Any],
    context: Path,
    env: dict[str, str],
    runner: Runner,
) -> None:
    install = ["install", "--no-root", "--no-interaction"]
    for flag, key in (("--with", "with_"), ("--without", "without"), ("--only", "only")):
        if args.get(key):
            install += [flag, ",".join(args[key])]
    version = args.get("poetry_version")
    if version is None:
        poetry = shutil.which("poetry")
        if poetry is None:
            raise BuildFailed("poetry_version=None needs `poetry` on this machine's PATH")
        command = [poetry, *install]
    else:
        spec = "poetry" if version == "latest" else f"poetry=={version}"
        command = [
            image_python.uv_binary(),
            "tool",
            "run",
            "--python",
            sys.executable,
            "--from",
            spec,
            "poetry",
            *install,
        ]
    runner.run(command, env={**env, "POETRY_VIRTUALENVS_CREATE": "false"}, cwd=context)


class Runner:
    """Runs one step's commands, streaming their output into the build log."""

    def __init__(self, say: Log) -> None:
        self.say = say

    def run(
        self,
        command: list[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> None:
        tail: list[str] = []
        try:
            proc = subprocess.Popen(
                command,
                env=dict(env),
                cwd=str(cwd) if cwd else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            raise BuildFailed(f"cannot run {command[0]}: {exc}") from exc
        timer = None
        if timeout is not None:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.say("out", line)
            tail = (tail + [line])[-_OUTPUT_TAIL:]
        code = proc.wait()
        if timer is not None:
            timer.cancel()
        if code != 0:
            name = os.path.basename(command[0])
            if timeout is not None and code == -9:
                raise BuildFailed(f"{name} ran past its timeout of {timeout:.0f}s")
            output = "\n".join(tail).strip()
            raise BuildFailed(
                f"{name} exited with code {code}" + (f":\n{output}" if output else "")
            )


def _copy_tree(source: Path, target: Path) -> None:
    """A full copy of a venv (reflinked where the filesystem can): later steps may change
    files in place, which must never reach the layer it came from."""
    cp = shutil.which("cp")
    if cp is not None:
        done = subprocess.run(
            [cp, "-a", "--reflink=auto", str(source), str(target)], capture_output=True
        )
        if done.returncode == 0:
            return
        shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)


def _step_env(venv: Path, env_vars: Mapping[str, str]) -> dict[str, str]:
    """A step's environment: ours, then the image's variables and its secrets, in its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env.update(env_vars)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _pip_flags(args: Mapping[str, Any]) -> list[str]:
    flags = []
    if args.get("find_links"):
        flags += ["--find-links", args["find_links"]]
    if args.get("index_url"):
        flags += ["--index-url", args["index_url"]]
    if args.get("extra_index_url"):
        flags += ["--extra-index-url", args["extra_index_url"]]
    if args.get("pre"):
        flags += ["--prerelease", "allow"]
    return flags + shlex.split(args.get("extra_options") or "")


def _conda_to_pip(spec: str) -> str:
    """``numpy=1.26`` (conda) as ``numpy==1.26`` (pip)."""
    return re.sub(r"(?<![=<>!~])=(?!=)", "==", spec)
