"""The first calls a user makes: remote, local, map, spawn."""

from __future__ import annotations

import os

import pytest

import strato

app = strato.App("basics")


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def where_am_i() -> dict:
    return {
        "container": os.environ.get("STRATO_CONTAINER_ID"),
        "pid": os.getpid(),
        "region": os.environ.get("MODAL_REGION"),
        "cloud": os.environ.get("MODAL_CLOUD_PROVIDER"),
    }


def test_remote_runs_in_another_process():
    with app.run():
        assert square.remote(7) == 49
        info = where_am_i.remote()
    assert info["container"].startswith("ct-")
    assert info["pid"] != os.getpid()
    assert info["cloud"] == "local" and info["region"] == "local"


def test_local_runs_here():
    assert square.local(5) == 25
    assert where_am_i.local()["pid"] == os.getpid()


def test_map_returns_outputs_in_order():
    with app.run():
        assert list(square.map(range(50))) == [x * x for x in range(50)]


def test_remote_outside_a_running_app_is_an_error():
    with pytest.raises(strato.exception.InvalidError, match="app.run"):
        square.remote(1)
