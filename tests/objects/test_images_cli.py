"""``strato image``: build an app's images without running it, list them, print Dockerfiles."""

from __future__ import annotations

import textwrap
import uuid

from typer.testing import CliRunner

from strato.cli.main import app as cli


def _app_file(workdir, body: str) -> str:
    name = f"image_cli_app_{uuid.uuid4().hex[:8]}.py"
    (workdir / name).write_text(textwrap.dedent(body))
    return name


def test_image_build_builds_every_image_of_an_app_and_runs_nothing(workdir):
    nonce = uuid.uuid4().hex
    target = _app_file(
        workdir,
        f"""
        import strato

        image = strato.Image.debian_slim().env({{"NONCE": "{nonce}"}}).pip_install("tomli-w")
        app = strato.App("image-cli", image=image)
        other = strato.Image.debian_slim().env({{"NONCE": "{nonce}", "OTHER": "1"}})

        @app.function()
        def first():
            open("{workdir}/ran.txt", "w").write("ran")

        @app.function()
        def second():
            pass

        @app.function(image=other)
        def third():
            pass
        """,
    )
    result = CliRunner().invoke(cli, ["image", "build", target])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("im-")]
    assert len(lines) == 2
    assert "ready" in lines[0] and " built" in lines[0] and "[first, second]" in lines[0]
    assert "[third]" in lines[1]
    assert not (workdir / "ran.txt").exists()

    again = CliRunner().invoke(cli, ["image", "build", target])
    assert again.exit_code == 0, again.output
    assert "(2 cached, 1 applied)  [first, second]" in again.stdout
    image_id = lines[0].split()[0]

    listed = CliRunner().invoke(cli, ["image", "list"])
    assert listed.exit_code == 0, listed.output
    assert image_id in listed.stdout


def test_image_build_fails_with_the_installers_message(workdir):
    target = _app_file(
        workdir,
        """
        import strato

        app = strato.App("image-cli-fail")

        @app.function(image=strato.Image.debian_slim().pip_install("strato-no-such-package-zz"))
        def f():
            pass
        """,
    )
    result = CliRunner().invoke(cli, ["image", "build", target])
    assert result.exit_code == 2
    assert "failed to build at layer 2/2 (pip_install strato-no-such-package-zz)" in result.output
    assert "not found in the package registry" in result.output


def test_image_build_fails_when_a_local_function_needs_a_refused_step(workdir):
    target = _app_file(
        workdir,
        """
        import strato

        app = strato.App("image-cli-refused")

        @app.function(image=strato.Image.debian_slim().apt_install("git"))
        def f():
            pass
        """,
    )
    result = CliRunner().invoke(cli, ["image", "build", target])
    assert result.exit_code == 1
    assert "cannot run on the local provider" in result.output
    assert "apt_install installs system packages" in result.output


def test_image_dockerfile_prints_it_and_writes_the_context(workdir):
    (workdir / "settings.toml").write_text("debug = true\n")
    target = _app_file(
        workdir,
        """
        import strato

        image = (
            strato.Image.debian_slim("3.12")
            .pip_install("tomli-w")
            .add_local_file("settings.toml", "/etc/app/settings.toml")
        )
        app = strato.App("image-cli-dockerfile", image=image)

        @app.function()
        def f():
            pass
        """,
    )
    result = CliRunner().invoke(
        cli, ["image", "dockerfile", target, "--context", str(workdir / "ctx")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "FROM python:3.12-slim-bookworm\n"
        "WORKDIR /root\n"
        "RUN python -m pip install tomli-w\n"
        "# local files added with copy=False (Modal adds them at container start)\n"
        "COPY .strato/02/settings.toml /etc/app/settings.toml\n"
    )
    assert (workdir / "ctx" / ".strato" / "02" / "settings.toml").read_text() == "debug = true\n"
    assert (workdir / "ctx" / "Dockerfile").read_text() == result.stdout


def test_image_dockerfile_asks_which_image_when_there_are_several(workdir):
    target = _app_file(
        workdir,
        """
        import strato

        app = strato.App("image-cli-several")

        @app.function(image=strato.Image.debian_slim("3.11"))
        def a():
            pass

        @app.function(image=strato.Image.debian_slim("3.12"))
        def b():
            pass
        """,
    )
    result = CliRunner().invoke(cli, ["image", "dockerfile", target])
    assert result.exit_code == 2
    assert "--function" in result.output
    picked = CliRunner().invoke(cli, ["image", "dockerfile", target, "--function", "b"])
    assert picked.stdout.startswith("FROM python:3.12-slim-bookworm")
