"""The Python of a locally built image: which interpreter, and making Strato importable in it.

An image's base layer is a virtual environment made with ``uv venv --relocatable`` from an
interpreter of the requested version: this one when it matches, else one ``uv`` knows, one of
pyenv's, or ``pythonX.Y`` on ``PATH``; uv downloads one only when the operator allows it
(``[images] python_downloads``, default true). When none can be had, the image falls back to
this control plane's own interpreter and the build says so.

The container runs the worker agent with the image's Python, so Strato must import there. We
*install* it rather than pointing the venv at the control plane's site-packages:

- the agent's few runtime dependencies (msgpack, cloudpickle, httpx, platformdirs) are
  installed with uv at the versions the control plane runs (from uv's cache after the first
  build), so they match the image's Python version and ABI, and nothing else of the host's
  environment leaks into the image;
- Strato's own files are copied from its installed distribution's RECORD: for an editable
  install that is the import finder pointing at the source tree (so code changes need no
  rebuild), for a wheel install the package itself. No build backend, no network.

Only when the dependencies cannot be installed (no network, empty cache) and the image's
Python is the control plane's own version does the venv borrow the host's site-packages (a
``.pth`` file), with a notice.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: What the worker agent imports outside the standard library.
RUNTIME_PACKAGES = ("msgpack", "cloudpickle", "httpx", "platformdirs")
#: The oldest Python the agent runs on.
MIN_AGENT_PYTHON = (3, 11)


def uv_binary() -> str:
    """The ``uv`` executable that ships with the ``uv`` package."""
    import uv

    return str(uv.find_uv_bin())


def _version_of(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _matches(found: str | None, wanted: str) -> bool:
    return found is not None and (found == wanted or found.startswith(wanted + "."))


def _candidates(wanted: str) -> list[str]:
    minor = ".".join(wanted.split(".")[:2])
    found: list[str] = []
    try:
        out = subprocess.run(
            [uv_binary(), "python", "find", "--no-project", wanted],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
        if out.returncode == 0 and out.stdout.strip():
            found.append(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pyenv_versions = glob.glob(os.path.join(pyenv_root, "versions", f"{minor}*"))
    for folder in sorted(pyenv_versions, reverse=True):
        found.append(os.path.join(folder, "bin", f"python{minor}"))
    on_path = shutil.which(f"python{minor}")
    if on_path:
        found.append(on_path)
    return found


def find_python(
    wanted: str, allow_download: bool, log: Callable[[str], None]
) -> tuple[str, str | None]:
    """(interpreter path, notice or None) for Python ``wanted`` (``3.12`` or ``3.12.1``)."""
    here = ".".join(str(n) for n in sys.version_info[:3])
    parts = tuple(int(p) for p in wanted.split(".")[:2])
    if parts < MIN_AGENT_PYTHON:
        return sys.executable, (
            f"Python {wanted} is older than the {'.'.join(map(str, MIN_AGENT_PYTHON))} Strato's "
            f"agent needs: the local image uses this control plane's Python {here} instead"
        )
    if _matches(here, wanted):
        return sys.executable, None
    for candidate in _candidates(wanted):
        if os.path.exists(candidate) and _matches(_version_of(candidate), wanted):
            return candidate, None
    if allow_download:
        log(f"no local Python {wanted}: asking uv to download one")
        try:
            install = subprocess.run(
                [uv_binary(), "python", "install", wanted],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if install.returncode == 0:
                for candidate in _candidates(wanted):
                    if _matches(_version_of(candidate), wanted):
                        return candidate, None
            else:
                last = (install.stderr or install.stdout).strip().splitlines()
                log(last[-1] if last else "the download failed")
        except (OSError, subprocess.SubprocessError):
            pass
    how = "" if allow_download else " (downloads are off: [images] python_downloads = false)"
    return sys.executable, (
        f"Python {wanted} is not installed here and could not be downloaded{how}: the local "
        f"image uses this control plane's Python {here} instead"
    )


def site_packages(venv: Path) -> Path:
    """The venv's ``site-packages`` folder."""
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages in {venv}")
    return found[0]


def runtime_requirements(pinned: bool) -> list[str]:
    """The agent's dependencies, at the control plane's versions when ``pinned``."""
    wanted = []
    for name in RUNTIME_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        wanted.append(f"{name}=={version}" if pinned and version else name)
    return wanted


def copy_strato(venv: Path) -> None:
    """Copy the installed Strato distribution's files into the venv (see the module doc)."""
    target = site_packages(venv)
    dist = _installed_distribution()
    files = list(dist.files or []) if dist is not None else []
    copied = 0
    for record in files:
        parts = Path(str(record)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts:
            continue
        source = Path(str(record.locate()))
        if not source.is_file():
            continue
        destination = target / Path(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        copied += 1
    if copied:
        return
    # Not installed as a distribution (a bare checkout on sys.path): point at its folder.
    import strato

    package = Path(strato.__file__).resolve().parent
    if package.name != "strato":
        raise RuntimeError(
            "strato is neither installed nor importable by its folder name: install it "
            "(pip install -e .) so images can run its agent"
        )
    (target / "_strato_source.pth").write_text(str(package.parent) + "\n")


def _installed_distribution() -> importlib.metadata.Distribution | None:
    """The installed (``.dist-info``) Strato distribution; a source tree's ``strato.egg-info``
    on ``sys.path`` lists repository paths, not installed files, and is skipped."""
    for dist in importlib.metadata.distributions(name="strato"):
        path = getattr(dist, "_path", None)
        if path is not None and str(path).endswith(".dist-info"):
            return dist
    return None


def borrow_host_packages(venv: Path) -> None:
    """Last resort: let the venv import the control plane's own site-packages (after its own)."""
    import site

    lines = [f"import site; site.addsitedir({p!r})" for p in site.getsitepackages()]
    (site_packages(venv) / "_strato_host_packages.pth").write_text("\n".join(lines) + "\n")
