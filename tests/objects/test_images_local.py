"""Images on the local provider: built as cached virtual environments, run by local containers
with their packages, environment, working directory and files."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

import strato
from strato.config import _load_settings, config_dir
from strato.image import Image, ImageBuildError
from strato.plugins.local.provider import bubblewrap_path

needs_sandbox = pytest.mark.skipif(
    bubblewrap_path() is None, reason="files appear at container paths only under bubblewrap"
)


def _nonce() -> dict[str, str]:
    """An env layer no other test shares, so these layers are not in the cache yet."""
    return {"STRATO_TEST_NONCE": uuid.uuid4().hex}


@pytest.fixture
def host_commands_allowed():
    """The operator's ``[images] allow_host_commands = true``, for one test."""
    path = config_dir() / "config.toml"
    path.write_text("[images]\nallow_host_commands = true\n")
    _load_settings.cache_clear()
    yield
    path.unlink()
    _load_settings.cache_clear()


def test_a_pip_installed_package_imports_in_the_image_and_not_without_it(workdir):
    assert importlib.util.find_spec("tomli_w") is None, "the test needs a package absent here"
    app = strato.App("images-pip")

    @app.function(image=Image.debian_slim().pip_install("tomli-w"))
    def with_image() -> tuple[str, str]:
        import tomli_w

        return tomli_w.dumps({"answer": 42}), sys.prefix

    @app.function()
    def without_image() -> bool:
        return importlib.util.find_spec("tomli_w") is not None

    with app.run():
        text, prefix = with_image.remote()
        assert without_image.remote() is False
    assert text == "answer = 42\n"
    assert prefix.startswith(str(strato.config.data_dir() / "images"))


def test_env_and_workdir_apply_in_the_container(workdir, tmp_path):
    inside = f"/tmp/strato-image-workdir-{uuid.uuid4().hex[:8]}"
    image = Image.debian_slim().env({"GREETING": "hello", "PORT": "6443"}).workdir(inside)
    app = strato.App("images-env")

    @app.function(image=image)
    def where() -> tuple[str | None, str | None, str]:
        return os.environ.get("GREETING"), os.environ.get("PORT"), os.getcwd()

    try:
        with app.run():
            assert where.remote() == ("hello", "6443", inside)
    finally:
        shutil.rmtree(inside, ignore_errors=True)  # made on the host, as Docker's WORKDIR would


@needs_sandbox
def test_local_files_appear_read_only_at_their_container_paths(workdir, monkeypatch):
    (workdir / "config.json").write_text('{"mode": "test"}\n')
    (workdir / "assets" / "deep").mkdir(parents=True)
    (workdir / "assets" / "one.txt").write_text("one\n")
    (workdir / "assets" / "deep" / "two.txt").write_text("two\n")
    (workdir / "assets" / "scratch.tmp").write_text("ignored\n")
    source = workdir / "src"
    (source / "helper_pkg").mkdir(parents=True)
    (source / "helper_pkg" / "__init__.py").write_text("VALUE = 'from the image'\n")
    (source / "helper_pkg" / "notes.txt").write_text("not python\n")
    monkeypatch.syspath_prepend(str(source))
    root = f"/tmp/strato-image-files-{uuid.uuid4().hex[:8]}"
    image = (
        Image.debian_slim()
        .add_local_file("config.json", f"{root}/etc/")
        .add_local_dir("assets", f"{root}/assets", ignore=["*.tmp"])
        .add_local_python_source("helper_pkg")
    )
    app = strato.App("images-files")

    @app.function(image=image)
    def look() -> dict:
        import helper_pkg

        found = sorted(
            os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
        )
        try:
            open(f"{root}/etc/config.json", "a").close()
            writable = True
        except OSError:
            writable = False
        package_files = sorted(os.listdir(os.path.dirname(helper_pkg.__file__)))
        return {
            "files": found,
            "config": open(f"{root}/etc/config.json").read(),
            "value": helper_pkg.VALUE,
            "package_files": package_files,
            "writable": writable,
        }

    with app.run():
        seen = look.remote()
    assert seen == {
        "files": ["assets/deep/two.txt", "assets/one.txt", "etc/config.json"],
        "config": '{"mode": "test"}\n',
        "value": "from the image",
        "package_files": ["__init__.py"],
        "writable": False,
    }
    assert not os.path.exists(root)  # the host itself is untouched


def test_a_second_build_is_all_cached_and_instant(workdir, capfd):
    image = Image.debian_slim().env(_nonce()).pip_install("tomli-w")
    image.build()
    first = capfd.readouterr().err
    assert "[3/3] pip_install tomli-w: building" in first
    started = time.perf_counter()
    assert asyncio.run(image.build.aio()) is image  # the async form, on a cached image
    elapsed = time.perf_counter() - started
    second = capfd.readouterr().err
    assert "building" not in second
    assert elapsed < 5, f"a cached build took {elapsed:.2f}s"  # loose: bench_image_start.py


def test_changing_the_last_layer_rebuilds_only_that_layer(workdir, capfd):
    base = Image.debian_slim().env(_nonce()).pip_install("tomli-w")
    base.pip_install("inflection").build()
    assert "[4/4] pip_install inflection: building" in capfd.readouterr().err

    changed = base.pip_install("text-unidecode")
    app = strato.App("images-partial")

    @app.function(image=changed)
    def packages() -> list[bool]:
        return [importlib.util.find_spec(m) is not None for m in ("tomli_w", "text_unidecode")]

    with app.run():
        assert packages.remote() == [True, True]
    err = capfd.readouterr().err
    assert "[3/4] pip_install tomli-w: cached" in err
    assert "[4/4] pip_install text-unidecode: building" in err
    assert "[3/4] pip_install tomli-w: building" not in err
    assert "1 built, 2 cached, 1 applied" in err


def test_force_build_reruns_its_layer_every_time(workdir, capfd):
    image = Image.debian_slim().env(_nonce()).pip_install("tomli-w", force_build=True)
    image.build()
    image.build()
    assert capfd.readouterr().err.count("[3/3] pip_install tomli-w: building") == 2


def test_a_package_that_does_not_exist_fails_the_build_naming_the_layer(workdir, capfd):
    app = strato.App("images-missing-package")

    @app.function(image=Image.debian_slim().pip_install("strato-no-such-package-zz"))
    def never() -> None:
        pass

    with pytest.raises(ImageBuildError) as caught:
        with app.run():
            pass
    message = str(caught.value)
    assert "at layer 2/2 (pip_install strato-no-such-package-zz)" in message
    assert "strato-no-such-package-zz was not found in the package registry" in message
    assert caught.value.layer == 2
    assert "not found in the package registry" in capfd.readouterr().err  # streamed too


def test_host_unsafe_steps_are_refused_on_the_local_provider(workdir, capfd):
    app = strato.App("images-refused")

    @app.function(image=Image.debian_slim().apt_install("cowsay"))
    def with_apt() -> str:
        return "ran"

    @app.function(image=Image.debian_slim().run_commands("echo host-$((40 + 2))"))
    def with_commands() -> str:
        return "ran"

    with app.run():
        with pytest.raises(ImageBuildError, match="apt_install installs system packages"):
            with_apt.remote()
        with pytest.raises(ImageBuildError, match="allow_host_commands = true") as caught:
            with_commands.remote()
    assert caught.value.refused and caught.value.layer == 2
    err = capfd.readouterr().err
    assert "cannot run on the local provider" in err
    assert "host-42" not in err  # never ran


def test_an_operator_can_allow_run_commands(workdir, host_commands_allowed):
    nonce = uuid.uuid4().hex
    image = Image.debian_slim().run_commands(f'echo {nonce} > "$VIRTUAL_ENV/marker.txt"')
    app = strato.App("images-commands")

    @app.function(image=image)
    def marker() -> str:
        return Path(sys.prefix, "marker.txt").read_text().strip()

    with app.run():
        assert marker.remote() == nonce


def _write_into_image(name: str) -> None:
    Path(sys.prefix, "built-by-function.txt").write_text(f"{name}:{os.environ['BUILD_TOKEN']}")


def test_run_function_runs_at_build_time_with_its_secrets(workdir):
    secret = strato.Secret.from_dict({"BUILD_TOKEN": "t0ken"})
    image = (
        Image.debian_slim()
        .env(_nonce())
        .run_function(_write_into_image, args=("weights",), secrets=[secret])
    )
    app = strato.App("images-run-function")

    @app.function(image=image)
    def read() -> str:
        return Path(sys.prefix, "built-by-function.txt").read_text()

    with app.run():
        assert read.remote() == "weights:t0ken"


def test_python_version_picks_a_matching_local_interpreter(workdir, monkeypatch):
    from strato.core.objects.image_python import find_python

    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    _python, notice = find_python(other, False, lambda _m: None)
    if notice is not None:
        pytest.skip(f"no local Python {other} here")
    # a module the other Python imports by name (a function pickled by this Python's
    # bytecode would not load there)
    (workdir / "other_python_app.py").write_text(
        "import sys\n"
        "import strato\n"
        "app = strato.App('images-python-version')\n"
        f"@app.function(image=strato.Image.debian_slim(python_version={other!r}))\n"
        "def version() -> str:\n"
        "    return '%d.%d' % sys.version_info[:2]\n"
    )
    monkeypatch.syspath_prepend(str(workdir))
    module = importlib.import_module("other_python_app")
    with module.app.run():
        assert module.version.remote() == other


def test_an_unavailable_python_version_falls_back_with_a_notice(workdir, capfd):
    app = strato.App("images-python-fallback")

    @app.function(image=Image.debian_slim(python_version="3.9"))
    def version() -> str:
        return f"{sys.version_info[0]}.{sys.version_info[1]}"

    with app.run():
        assert version.remote() == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert "Python 3.9 is older than the 3.11 Strato's agent needs" in capfd.readouterr().err


def test_local_files_a_remote_plane_cannot_read_are_uploaded(workdir, monkeypatch):
    from strato._image_build import run_build
    from strato.client import Client

    nonce = uuid.uuid4().hex
    source = workdir / "src"
    source.mkdir()
    (source / "uploaded_mod.py").write_text(f"VALUE = {nonce!r}\n")
    monkeypatch.syspath_prepend(str(source))
    image = Image.debian_slim().add_local_python_source("uploaded_mod")
    payloads = image._payloads()
    readable = {sha: src for p in payloads for src, _dest, sha, _mode in p["files"]}
    for payload in payloads:  # the paths as a control plane on another machine sees them
        for entry in payload["files"]:
            entry[0] = f"/elsewhere/{uuid.uuid4().hex}/{os.path.basename(entry[0])}"
    report = run_build(
        Client.from_env(), payloads, app_id=None, force=False, out=None, sources=readable
    )
    assert report["state"] == "ready"
    blobs = strato.config.data_dir() / "images" / "blobs"
    assert sorted(p.name for p in blobs.iterdir() if p.name in readable) == sorted(readable)

    app = strato.App("images-upload")

    @app.function(image=image)
    def value() -> str:
        import uploaded_mod

        return uploaded_mod.VALUE

    with app.run():
        assert value.remote() == nonce


def test_requirements_pyproject_and_uv_projects_install_their_packages(workdir):
    (workdir / "requirements.txt").write_text("tomli-w\n")
    (workdir / "pyproject.toml").write_text(
        '[project]\nname = "a"\nversion = "0"\ndependencies = []\n'
        '[project.optional-dependencies]\nextra = ["inflection"]\n'
    )
    (workdir / "uvproject").mkdir()
    (workdir / "uvproject" / "pyproject.toml").write_text(
        '[project]\nname = "b"\nversion = "0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["text-unidecode"]\n'
    )
    image = (
        Image.debian_slim()
        .env(_nonce())
        .pip_install_from_requirements("requirements.txt")
        .pip_install_from_pyproject("pyproject.toml", optional_dependencies=["extra"])
        .uv_sync("uvproject", frozen=False)
    )
    app = strato.App("images-project-files")

    @app.function(image=image)
    def found() -> list[bool]:
        names = ("tomli_w", "inflection", "text_unidecode")
        return [importlib.util.find_spec(m) is not None for m in names]

    with app.run():
        assert found.remote() == [True, True, True]
