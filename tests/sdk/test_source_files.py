"""Which of the user's files travel with a function to a cloud machine (``include_source``)."""

from __future__ import annotations

import pytest

import strato
from strato._source import MAX_FILES, attach, source_files
from strato.exception import InvalidError


def test_the_entrypoint_file_travels_alone(tmp_path):
    script = tmp_path / "main.py"
    script.write_text("print('hi')\n")
    definition = {"file": str(script), "module": None, "python_path": [str(tmp_path)]}
    assert source_files(definition) == {"main.py": str(script)}


def test_a_module_of_a_package_brings_the_whole_package_python_files_only(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    for path in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (package / path).write_text("")
    (package / "data.csv").write_text("not python")
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "other.py").write_text("")  # beside the package, not in it
    definition = {"module": "pkg.sub.b", "python_path": [str(tmp_path)]}
    assert sorted(source_files(definition)) == [
        "pkg/__init__.py", "pkg/a.py", "pkg/sub/__init__.py", "pkg/sub/b.py",
    ]  # fmt: skip


def test_a_single_module_travels_alone(tmp_path):
    (tmp_path / "tool.py").write_text("")
    (tmp_path / "unrelated.py").write_text("")
    definition = {"module": "tool", "python_path": [str(tmp_path)]}
    assert list(source_files(definition)) == ["tool.py"]


def test_a_package_too_large_to_ship_is_refused_with_what_to_do(tmp_path, monkeypatch):
    package = tmp_path / "big"
    package.mkdir()
    for i in range(5):
        (package / f"m{i}.py").write_text("")
    monkeypatch.setattr("strato._source.MAX_FILES", 3)
    definition = {"module": "big.m0", "python_path": [str(tmp_path)], "qualname": "f"}
    with pytest.raises(InvalidError, match="include_source=False"):
        attach(None, definition, {})
    assert MAX_FILES == 5000


def test_only_cloud_functions_carry_their_source(tmp_path, monkeypatch):
    """A function running here imports from this machine's disk: nothing is hashed or sent."""
    app = strato.App("source-local-only", include_source=True)
    definition = {"module": "json", "python_path": ["/nowhere"], "options": {}}
    app._attach_source(definition, {})
    assert "source" not in definition


def test_include_source_is_a_function_option_that_overrides_the_app(tmp_path):
    app = strato.App("source-options", include_source=True)

    def f() -> None: ...

    with pytest.raises(InvalidError, match="include_source must be True or False"):
        app.function(include_source="no")(f)
    off = {"module": "json", "python_path": ["/nowhere"], "options": {"gpu": ["T4"]}}
    off["options"]["include_source"] = False
    app._attach_source(off, {})  # no client needed: nothing is shipped
    assert "source" not in off
