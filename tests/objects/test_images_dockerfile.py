"""strato.Image as a Dockerfile: the exact text every method renders, the build context next to
it, and the argument checks every method makes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import strato
from strato.exception import InvalidError
from strato.image import FilePatternMatcher, Image


@pytest.fixture
def project(workdir: Path) -> Path:
    """A small project: requirement files, a Dockerfile with a context, data files."""
    (workdir / "requirements.txt").write_text("six==1.16.0\n")
    (workdir / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "demo"
            version = "0"
            dependencies = ["tomli-w>=1"]

            [project.optional-dependencies]
            dev = ["inflection"]
            """
        )
    )
    (workdir / "uv.lock").write_text("version = 1\n")
    (workdir / "poetry.lock").write_text("# lock\n")
    (workdir / "app").mkdir()
    (workdir / "app" / "main.py").write_text("print('hi')\n")
    (workdir / "app" / "skip.log").write_text("noise\n")
    (workdir / "Dockerfile").write_text(
        "FROM ubuntu:22.04\nARG VERSION=1\nCOPY app/ /srv/app/\nRUN echo $VERSION\n"
    )
    (workdir / "data").mkdir()
    (workdir / "data" / "a.txt").write_text("a\n")
    (workdir / "data" / "b.bin").write_bytes(b"\0b")
    return workdir


def _build_function(x: int) -> None:
    print(x)


def test_every_build_step_renders_its_dockerfile_lines(project):
    image = (
        Image.debian_slim(python_version="3.12")
        .apt_install("git", ["curl"])
        .pip_install("b", ["a==1"], index_url="https://pypi.example/simple", pre=True)
        .uv_pip_install("c", requirements=["requirements.txt"], uv_version="0.4.0")
        .pip_install_from_requirements("requirements.txt", extra_options="--no-deps")
        .pip_install_from_pyproject("pyproject.toml", optional_dependencies=["dev"])
        .run_commands("echo one", ["echo two"])
        .run_function(_build_function, args=(1,))
        .env({"A": "x y", "B": "$HOME"})
        .workdir("/srv")
        .add_local_file("requirements.txt", "/etc/req.txt", copy=True)
        .entrypoint(["/bin/sh"])
        .shell(["/bin/bash", "-c"])
        .cmd(["python"])
        .add_local_dir("data", "/data", ignore=["*.bin"])
        .add_local_python_source("strato")
    )
    assert image.dockerfile() == textwrap.dedent(
        """\
        FROM python:3.12-slim-bookworm
        WORKDIR /root
        RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl git && rm -rf /var/lib/apt/lists/*
        RUN python -m pip install a==1 b --index-url https://pypi.example/simple --pre
        COPY --from=ghcr.io/astral-sh/uv:0.4.0 /uv /.uv/uv
        COPY .strato/03/ /.strato/03/
        RUN /.uv/uv pip install --python $(command -v python) --compile-bytecode c -r /.strato/03/requirements-0.txt
        COPY .strato/04/requirements.txt /.strato/04/requirements.txt
        RUN python -m pip install -r /.strato/04/requirements.txt --no-deps
        RUN python -m pip install inflection 'tomli-w>=1'
        RUN echo one
        RUN echo two
        COPY .strato/07/ /.strato/07/
        RUN python -m pip install --quiet cloudpickle && python /.strato/07/run_function.py /.strato/07/payload.pkl
        ENV A="x y"
        ENV B="\\$HOME"
        WORKDIR /srv
        COPY .strato/10/requirements.txt /etc/req.txt
        ENTRYPOINT ["/bin/sh"]
        SHELL ["/bin/bash", "-c"]
        CMD ["python"]
        # local files added with copy=False (Modal adds them at container start)
        COPY .strato/14/ /data/
        COPY .strato/15/ /root/
        ENV PYTHONPATH=/root${PYTHONPATH:+:$PYTHONPATH}
        """  # noqa: E501
    )


def test_base_images_render_their_from_lines(project):
    assert Image.from_registry(
        "nvidia/cuda:12.2.0-devel-ubuntu22.04",
        add_python="3.11",
        setup_dockerfile_commands=["RUN apt-get update"],
    ).dockerfile() == textwrap.dedent(
        """\
        FROM nvidia/cuda:12.2.0-devel-ubuntu22.04
        RUN apt-get update
        COPY --from=ghcr.io/astral-sh/uv:latest /uv /usr/local/bin/uv
        RUN uv venv --python 3.11 --seed /opt/strato/python
        ENV VIRTUAL_ENV=/opt/strato/python PATH=/opt/strato/python/bin:$PATH
        """
    )
    assert Image.from_dockerfile(
        "Dockerfile", build_args={"VERSION": "2"}
    ).dockerfile() == textwrap.dedent(
        """\
        ARG VERSION="2"
        FROM ubuntu:22.04
        ARG VERSION="2"
        COPY app/ /srv/app/
        RUN echo $VERSION
        """
    )
    assert Image.micromamba("3.10").micromamba_install(
        "numpy=1.26", channels=["conda-forge"]
    ).dockerfile() == textwrap.dedent(
        """\
        FROM mambaorg/micromamba:2.0.5
        USER root
        RUN micromamba install -n base -y -c conda-forge python=3.10 pip && micromamba clean --all --yes
        ENV PATH=/opt/conda/bin:$PATH
        WORKDIR /root
        RUN micromamba install -n base -y -c conda-forge numpy=1.26 && micromamba clean --all --yes
        """  # noqa: E501
    )


def test_project_installers_render_with_their_lock_files(project):
    image = (
        Image.debian_slim("3.11")
        .uv_sync(str(project), groups=["dev"])
        .poetry_install_from_file("pyproject.toml", with_=["test"], poetry_version="1.8.3")
        .dockerfile_commands("COPY app/main.py /opt/main.py", "RUN python /opt/main.py")
    )
    assert image.dockerfile() == textwrap.dedent(
        """\
        FROM python:3.11-slim-bookworm
        WORKDIR /root
        COPY --from=ghcr.io/astral-sh/uv:latest /uv /.uv/uv
        COPY .strato/01/ /.uv/project/
        RUN cd /.uv/project && UV_PROJECT_ENVIRONMENT="$(python -c 'import sys; print(sys.prefix)')" /.uv/uv sync --inexact --no-install-project --compile-bytecode --python $(command -v python) --group dev --frozen
        COPY .strato/02/ /.poetry/
        RUN python -m pip install --quiet poetry==1.8.3 && cd /.poetry && poetry config virtualenvs.create false && poetry install --no-root --no-interaction --with test
        COPY app/main.py /opt/main.py
        RUN python /opt/main.py
        """  # noqa: E501
    )


def test_the_build_context_holds_every_file_the_dockerfile_copies(project, tmp_path):
    image = (
        Image.from_dockerfile("Dockerfile")
        .pip_install_from_requirements("requirements.txt")
        .run_function(_build_function, args=(2,))
        .add_local_dir("data", "/data", ignore=FilePatternMatcher("*.bin"))
        .add_local_file("requirements.txt", "/etc/")
    )
    context = image.write_build_context(tmp_path / "ctx")
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert files == [
        ".strato/01/requirements.txt",
        ".strato/02/payload.pkl",
        ".strato/02/run_function.py",
        ".strato/03/a.txt",
        ".strato/04/requirements.txt",
        "Dockerfile",
        "app/main.py",
        "app/skip.log",
    ]
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile == image.dockerfile()
    assert "COPY .strato/04/requirements.txt /etc/requirements.txt" in dockerfile


def test_a_dockerignore_keeps_files_out_of_a_dockerfile_context(project, tmp_path):
    (project / ".dockerignore").write_text("**/*.log\n")
    context = Image.from_dockerfile("Dockerfile").write_build_context(tmp_path / "ctx")
    assert (context / "app" / "main.py").exists()
    assert not (context / "app" / "skip.log").exists()


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: Image.debian_slim(python_version=3.12), "python_version"),
        (lambda: Image.debian_slim(python_version="python3"), "python_version"),
        (lambda: Image.debian_slim().pip_install(42), "packages"),
        (lambda: Image.debian_slim().pip_install("x", pre="yes"), "pre"),
        (lambda: Image.debian_slim().pip_install("x", index_url=1), "index_url"),
        (lambda: Image.debian_slim().pip_install("x", force_build="no"), "force_build"),
        (lambda: Image.debian_slim().pip_install("x", secrets=["TOKEN"]), "secrets"),
        (lambda: Image.debian_slim().apt_install("git", gpu=3), "gpu"),
        (lambda: Image.debian_slim().env({"PORT": 6443}), "vars"),
        (lambda: Image.debian_slim().env(["PORT"]), "vars"),
        (lambda: Image.debian_slim().workdir(7), "path"),
        (lambda: Image.debian_slim().entrypoint("python"), "entrypoint_commands"),
        (lambda: Image.debian_slim().add_local_file("missing.txt", "/x"), "local_path"),
        (lambda: Image.debian_slim().add_local_file("requirements.txt", "x"), "remote_path"),
        (lambda: Image.debian_slim().add_local_dir("requirements.txt", "/x"), "local_path"),
        (lambda: Image.debian_slim().add_local_dir("data", "/x", ignore=3), "ignore"),
        (lambda: Image.debian_slim().run_function("not a function"), "raw_f"),
        (lambda: Image.debian_slim().run_function(_build_function, timeout=0), "timeout"),
        (lambda: Image.debian_slim().pip_install_from_requirements("nope.txt"), "requirements"),
        (lambda: Image.from_registry(""), "tag"),
    ],
)
def test_bad_arguments_raise_invalid_error_naming_the_argument(project, make, argument):
    with pytest.raises(InvalidError, match=f"`{argument}"):
        make()


def test_a_module_that_is_not_importable_is_refused_by_name(project):
    with pytest.raises(InvalidError, match="no_such_module_xyz"):
        Image.debian_slim().add_local_python_source("no_such_module_xyz")


def test_build_steps_after_files_added_at_start_are_refused(project):
    late = Image.debian_slim().add_local_file("requirements.txt", "/tmp/req.txt")
    with pytest.raises(InvalidError, match="copy=True"):
        late.pip_install("six")
    # more files, or files copied into a layer, may still come after
    late.add_local_dir("data", "/tmp/data")
    Image.debian_slim().add_local_file("requirements.txt", "/r.txt", copy=True).pip_install("six")


def test_every_method_returns_a_new_image_and_leaves_its_receiver_alone(project):
    base = Image.debian_slim("3.11")
    before = base.dockerfile()
    derived = base.pip_install("six").env({"A": "1"}).workdir("/w")
    assert derived is not base
    assert base.dockerfile() == before
    assert len(derived.layers()) == 4 and len(base.layers()) == 1


def test_strato_exports_image():
    assert strato.Image is Image
