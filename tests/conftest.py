"""Shared fixtures: every test session gets its own data and config dirs, and loads no
third-party plugins (the built-in local provider is always there)."""

from __future__ import annotations

import os
import tempfile

_ROOT = tempfile.mkdtemp(prefix="strato-tests-")
os.environ["STRATO_DATA_DIR"] = os.path.join(_ROOT, "data")
os.environ["STRATO_CONFIG_DIR"] = os.path.join(_ROOT, "config")
os.environ["STRATO_PLUGINS"] = ""
os.environ.pop("STRATO_SERVER_URL", None)
os.environ.pop("STRATO_TOKEN", None)

import pytest  # noqa: E402


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run the test from a fresh directory: local containers use it as their writable dir."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
