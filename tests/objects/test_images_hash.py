"""An image's identity: the same definition gives the same id, any change gives another, and a
change in one layer leaves the layers before it untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from strato.image import Image


def _layer_hashes(image: Image) -> list[str]:
    return [p["hash"] for p in image._payloads()]


@pytest.fixture
def files(workdir: Path) -> Path:
    (workdir / "config.json").write_text('{"a": 1}\n')
    (workdir / "assets").mkdir()
    (workdir / "assets" / "one.txt").write_text("one\n")
    (workdir / "assets" / "cache.tmp").write_text("noise\n")
    (workdir / "requirements.txt").write_text("six\n")
    return workdir


def test_the_same_definition_has_the_same_id_in_another_process(files):
    source = textwrap.dedent(
        """
        from strato.image import Image
        image = (
            Image.debian_slim("3.11")
            .pip_install("six", "tomli-w")
            .env({"A": "1", "B": "2"})
            .add_local_file("config.json", "/tmp/config.json")
            .add_local_dir("assets", "/tmp/assets")
        )
        print(image.object_id)
        """
    )
    ids = {
        subprocess.run(
            [sys.executable, "-c", source], cwd=files, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(ids) == 1
    image_id = ids.pop()
    assert image_id.startswith("im-") and len(image_id) == 27


def test_package_order_and_env_order_do_not_change_the_id():
    one = Image.debian_slim("3.11").pip_install("six", "tomli-w").env({"A": "1", "B": "2"})
    two = Image.debian_slim("3.11").pip_install(["tomli-w"], "six").env({"B": "2", "A": "1"})
    assert one.object_id == two.object_id


@pytest.mark.parametrize(
    "change",
    [
        lambda: Image.debian_slim("3.12").pip_install("six"),
        lambda: Image.debian_slim("3.11").pip_install("six==1.16.0"),
        lambda: Image.debian_slim("3.11").pip_install("six", pre=True),
        lambda: Image.debian_slim("3.11").uv_pip_install("six"),
        lambda: Image.debian_slim("3.11").pip_install("six").env({"A": "1"}),
        lambda: Image.debian_slim("3.11").env({"A": "1"}).pip_install("six"),
    ],
)
def test_any_change_to_the_definition_changes_the_id(change):
    assert change().object_id != Image.debian_slim("3.11").pip_install("six").object_id


def test_force_build_does_not_change_the_id():
    forced = Image.debian_slim("3.11").pip_install("six", force_build=True)
    assert forced.object_id == Image.debian_slim("3.11").pip_install("six").object_id


def test_editing_a_local_file_changes_its_layer_and_only_the_layers_after_it(files):
    def image() -> Image:
        return (
            Image.debian_slim("3.11")
            .pip_install_from_requirements("requirements.txt")
            .add_local_file("config.json", "/tmp/config.json", copy=True)
            .pip_install("tomli-w")
        )

    before = _layer_hashes(image())
    (files / "config.json").write_text('{"a": 2}\n')
    after = _layer_hashes(image())
    assert before[:2] == after[:2]
    assert before[2] != after[2] and before[3] != after[3]


def test_a_requirements_file_is_part_of_its_layer(files):
    before = Image.debian_slim("3.11").pip_install_from_requirements("requirements.txt")
    first = before.object_id
    (files / "requirements.txt").write_text("six==1.16.0\n")
    assert before.object_id != first  # the content is read when the id is asked for


def test_ignored_files_do_not_count(files):
    image = Image.debian_slim("3.11").add_local_dir("assets", "/tmp/assets", ignore=["*.tmp"])
    first = image.object_id
    (files / "assets" / "cache.tmp").write_text("other noise\n")
    assert image.object_id == first
    (files / "assets" / "one.txt").write_text("changed\n")
    assert image.object_id != first


def test_a_moved_project_keeps_its_ids(files, tmp_path):
    first = Image.debian_slim("3.11").add_local_dir("assets", "/tmp/assets").object_id
    moved = tmp_path / "elsewhere"
    os.rename(files / "assets", moved)
    assert Image.debian_slim("3.11").add_local_dir(moved, "/tmp/assets").object_id == first


def test_a_build_function_is_identified_by_its_source_and_arguments():
    def download(n: int) -> None:
        print("download", n)

    def download_other(n: int) -> None:
        print("other", n)

    base = Image.debian_slim("3.11")
    one = base.run_function(download, args=(1,))
    assert one.object_id == base.run_function(download, args=(1,)).object_id
    assert one.object_id != base.run_function(download, args=(2,)).object_id
    assert one.object_id != base.run_function(download_other, args=(1,)).object_id


def test_imports_ignores_missing_packages_here_only():
    image = Image.debian_slim().pip_install("package-that-is-not-here")
    with image.imports():
        import package_that_is_not_here  # noqa: F401
    with pytest.raises(ZeroDivisionError):
        with image.imports():
            1 / 0  # noqa: B018
