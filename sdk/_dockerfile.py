"""An image as a Dockerfile plus its build context, for machines that build it with Docker.

Cloud start-up scripts build :func:`render_dockerfile`'s text; :func:`write_build_context`
writes the same Dockerfile next to the local files its ``COPY`` lines name. Each layer's files
live in ``.strato/NN/`` of the context (NN: the layer's position), except the context of
``from_dockerfile``/``dockerfile_commands``, which keeps its own layout at the context's root
so that the user's ``COPY`` lines work unchanged.

Files added with ``copy=False`` reach Modal's containers at start-up, not through the image;
here they are copied in last, after every build step, which gives the same container.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from strato._image_layers import FILE_OPS

UV_IMAGE = "ghcr.io/astral-sh/uv"
MICROMAMBA_IMAGE = "mambaorg/micromamba:2.0.5"
#: Ops whose files keep the user's context layout (their COPY lines are the user's own).
ROOT_CONTEXT_OPS = frozenset({"from_dockerfile", "dockerfile_commands"})

#: What ``run_function`` runs at build time: unpickle the function and its arguments, call it.
RUN_FUNCTION_SCRIPT = """\
import pickle, sys
from pathlib import Path

import cloudpickle  # noqa: F401 - the function was pickled by value with it

function_data, arguments_data = pickle.loads(Path(sys.argv[1]).read_bytes())
fn = pickle.loads(function_data)
args, kwargs = pickle.loads(arguments_data)
fn(*args, **kwargs)
"""


def context_dir(index: int, op: str) -> str:
    """Where layer ``index``'s files sit in the build context."""
    return "" if op in ROOT_CONTEXT_OPS else f".strato/{index:02d}"


def _quote_env(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", "\\n") + '"'


def _copy(source: str, target: str) -> str:
    if any(c.isspace() for c in source + target):
        return f"COPY {json.dumps([source, target])}"
    return f"COPY {source} {target}"


def _run(command: str) -> str:
    if "\n" in command.strip():
        return f"RUN <<'STRATO_EOF'\n{command.strip()}\nSTRATO_EOF"
    return f"RUN {command.strip()}"


def _pip_flags(args: Mapping[str, Any], uv: bool = False) -> str:
    flags = []
    if args.get("find_links"):
        flags.append(f"--find-links {shlex.quote(args['find_links'])}")
    if args.get("index_url"):
        flags.append(f"--index-url {shlex.quote(args['index_url'])}")
    if args.get("extra_index_url"):
        flags.append(f"--extra-index-url {shlex.quote(args['extra_index_url'])}")
    if args.get("pre"):
        flags.append("--prerelease allow" if uv else "--pre")
    if args.get("extra_options"):
        flags.append(args["extra_options"])
    return (" " + " ".join(flags)) if flags else ""


def _add_python(version: str | None) -> list[str]:
    if not version:
        return []
    return [
        f"COPY --from={UV_IMAGE}:latest /uv /usr/local/bin/uv",
        f"RUN uv venv --python {version} --seed /opt/strato/python",
        "ENV VIRTUAL_ENV=/opt/strato/python PATH=/opt/strato/python/bin:$PATH",
    ]


def _apply_build_args(text: str, build_args: Mapping[str, str]) -> str:
    """Bake ``build_args`` into a Dockerfile: the cloud builds it with no ``--build-arg``."""
    if not build_args:
        return text
    lines = []
    for line in text.splitlines():
        match = re.match(r"\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", line, re.IGNORECASE)
        if match and match.group(1) in build_args:
            name = match.group(1)
            line = f"ARG {name}={_quote_env(build_args[name])}"
        lines.append(line)
    header = [f"ARG {k}={_quote_env(v)}" for k, v in sorted(build_args.items())]
    return "\n".join(header + lines)


def render_layer(index: int, payload: Mapping[str, Any], state: dict[str, Any]) -> list[str]:
    """The Dockerfile lines of one layer (``state`` carries what later layers need to know)."""
    op, args = payload["op"], payload["args"]
    ctx = context_dir(index, op)
    staged = f"/.strato/{index:02d}"
    if op == "debian_slim":
        return [f"FROM python:{args['python_version']}-slim-bookworm", "WORKDIR /root"]
    if op == "micromamba":
        return [
            f"FROM {MICROMAMBA_IMAGE}",
            "USER root",
            f"RUN micromamba install -n base -y -c conda-forge python={args['python_version']} "
            "pip && micromamba clean --all --yes",
            "ENV PATH=/opt/conda/bin:$PATH",
            "WORKDIR /root",
        ]
    if op == "from_registry":
        return [
            f"FROM {args['tag']}",
            *args.get("setup_dockerfile_commands", []),
            *_add_python(args.get("add_python")),
        ]
    if op == "from_dockerfile":
        text = _apply_build_args(args["dockerfile"], args.get("build_args") or {})
        return [text.rstrip("\n"), *_add_python(args.get("add_python"))]
    if op == "dockerfile_commands":
        return list(args["commands"])
    if op in ("pip_install", "pip_install_from_pyproject"):
        packages = shlex.join(args["packages"])
        return [_run(f"python -m pip install {packages}{_pip_flags(args)}")] if packages else []
    if op == "uv_pip_install":
        parts = [shlex.join(args["packages"])] if args["packages"] else []
        lines = [f"COPY --from={UV_IMAGE}:{args.get('uv_version') or 'latest'} /uv /.uv/uv"]
        if args.get("requirements"):
            lines.append(_copy(f"{ctx}/", f"{staged}/"))
            parts += [f"-r {staged}/requirements-{i}.txt" for i in range(len(args["requirements"]))]
        command = "/.uv/uv pip install --python $(command -v python) --compile-bytecode "
        lines.append(_run(command + " ".join(parts) + _pip_flags(args, uv=True)))
        return lines
    if op == "pip_install_from_requirements":
        return [
            _copy(f"{ctx}/requirements.txt", f"{staged}/requirements.txt"),
            _run(f"python -m pip install -r {staged}/requirements.txt{_pip_flags(args)}"),
        ]
    if op == "uv_sync":
        flags = "".join(f" --group {shlex.quote(g)}" for g in args.get("groups") or [])
        flags += "".join(f" --extra {shlex.quote(e)}" for e in args.get("extras") or [])
        if args.get("frozen") and args.get("has_lock"):
            flags += " --frozen"
        if args.get("extra_options"):
            flags += " " + args["extra_options"]
        return [
            f"COPY --from={UV_IMAGE}:{args.get('uv_version') or 'latest'} /uv /.uv/uv",
            _copy(f"{ctx}/", "/.uv/project/"),
            _run(
                "cd /.uv/project && UV_PROJECT_ENVIRONMENT=\"$(python -c 'import sys; "
                "print(sys.prefix)')\" /.uv/uv sync --inexact --no-install-project "
                f"--compile-bytecode --python $(command -v python){flags}"
            ),
        ]
    if op == "poetry_install_from_file":
        install = "poetry install --no-root --no-interaction"
        for flag, key in (("--with", "with_"), ("--without", "without"), ("--only", "only")):
            if args.get(key):
                install += f" {flag} {shlex.quote(','.join(args[key]))}"
        steps = []
        if args.get("poetry_version") is not None:
            version = args["poetry_version"]
            spec = "poetry" if version == "latest" else f"poetry=={version}"
            steps.append(f"python -m pip install --quiet {shlex.quote(spec)}")
        steps += ["cd /.poetry", "poetry config virtualenvs.create false", install]
        return [_copy(f"{ctx}/", "/.poetry/"), _run(" && ".join(steps))]
    if op == "apt_install":
        packages = shlex.join(args["packages"])
        return [
            _run(
                "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                f"--no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*"
            )
        ]
    if op == "micromamba_install":
        command = "micromamba install -n base -y"
        command += "".join(f" -c {shlex.quote(c)}" for c in args.get("channels") or [])
        lines = []
        if args.get("spec_file"):
            lines.append(_copy(f"{ctx}/spec.txt", f"{staged}/spec.txt"))
            command += f" -f {staged}/spec.txt"
        if args.get("packages"):
            command += " " + shlex.join(args["packages"])
        return [*lines, _run(command + " && micromamba clean --all --yes")]
    if op == "run_commands":
        return [_run(command) for command in args["commands"]]
    if op == "run_function":
        return [
            _copy(f"{ctx}/", f"{staged}/"),
            _run(
                "python -m pip install --quiet cloudpickle && "
                f"python {staged}/run_function.py {staged}/payload.pkl"
            ),
        ]
    if op == "env":
        return [f"ENV {k}={_quote_env(v)}" for k, v in sorted(args["vars"].items())]
    if op == "workdir":
        return [f"WORKDIR {args['path']}"]
    if op in ("entrypoint", "shell", "cmd"):
        return [f"{op.upper()} {json.dumps(list(args['commands']))}"]
    if op == "add_local_file":
        dest = payload["files"][0][1] if payload["files"] else os.path.basename(args["local_path"])
        return [_copy(f"{ctx}/{dest}", args["remote_path"])]
    if op == "add_local_dir":
        return [_copy(f"{ctx}/", args["remote_path"].rstrip("/") + "/")]
    if op == "add_local_python_source":
        lines = [_copy(f"{ctx}/", "/root/")]
        if not state.get("pythonpath"):
            state["pythonpath"] = True
            lines.append("ENV PYTHONPATH=/root${PYTHONPATH:+:$PYTHONPATH}")
        return lines
    raise ValueError(f"no Dockerfile rendering for image step {op!r}")


def render_dockerfile(payloads: Sequence[Mapping[str, Any]]) -> str:
    """The Dockerfile of an image given its layers' payloads."""
    lines: list[str] = []
    late: list[str] = []
    state: dict[str, Any] = {}
    for index, payload in enumerate(payloads):
        at_start = payload["op"] in FILE_OPS and not payload["args"].get("copy")
        (late if at_start else lines).extend(render_layer(index, payload, state))
    if late:
        lines.append("# local files added with copy=False (Modal adds them at container start)")
        lines.extend(late)
    return "\n".join(lines) + "\n"


def write_build_context(payloads: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write the Dockerfile and every local file it copies into the folder ``path``."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for index, payload in enumerate(payloads):
        ctx = context_dir(index, payload["op"])
        folder = root / ctx if ctx else root
        for source, dest, _sha, mode in payload["files"]:
            target = folder / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            os.chmod(target, mode)
        if payload["op"] == "run_function":
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "payload.pkl").write_bytes(payload["extra"]["payload"])
            (folder / "run_function.py").write_text(RUN_FUNCTION_SCRIPT)
    (root / "Dockerfile").write_text(render_dockerfile(payloads))
    return root
