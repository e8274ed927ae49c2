"""``@app.cls`` classes: ``@enter`` once per container, ``@method`` calls, parameters,
``@exit`` at container stop, ``.local()``, and what a class may not do."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import strato
from strato.exception import InvalidError

app = strato.App("cls-lifecycle")
#: A second app, so that stopping it (to see ``@exit`` run) leaves ``app`` running.
exit_app = strato.App("cls-lifecycle-exit")

#: How many times an ``@enter`` hook ran in this process (a container, or the test itself).
ENTERS_IN_PROCESS = 0


@app.cls(max_containers=1)
class Counter:
    @strato.enter()
    def start(self) -> None:
        global ENTERS_IN_PROCESS
        ENTERS_IN_PROCESS += 1
        self.instance_enters = getattr(self, "instance_enters", 0) + 1
        self.base = 100

    @strato.method()
    def info(self, _i: int = 0) -> dict:
        return {
            "process_enters": ENTERS_IN_PROCESS,
            "instance_enters": self.instance_enters,
            "pid": os.getpid(),
            "container": os.environ.get("STRATO_CONTAINER_ID"),
        }

    @strato.method()
    def plus_base(self, x: int, *, times: int = 1) -> int:
        return (self.base + x) * times

    def helper(self) -> str:
        return "not remote"


@app.cls()
class Greeter:
    greeting: str = strato.parameter()
    repeat: int = strato.parameter(default=1)

    @strato.method()
    def greet(self, name: str) -> dict:
        return {
            "text": " ".join([f"{self.greeting} {name}"] * self.repeat),
            "container": os.environ.get("STRATO_CONTAINER_ID"),
        }


@exit_app.cls()
class Farewell:
    @strato.method()
    def where(self) -> str:
        return os.environ["STRATO_CONTAINER_ID"]

    @strato.exit()
    def leave(self) -> None:
        container = os.environ["STRATO_CONTAINER_ID"]
        # Written aside and renamed, so the test never reads a half-written mark.
        Path(f"exit-{container}.part").write_text(f"exited {container}")
        os.replace(f"exit-{container}.part", f"exit-{container}.txt")


def _wait_for(path: Path, seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def running():
    """Run ``app`` once for this module."""
    with app.run():
        yield


def test_enter_runs_once_per_container(running):
    counter = Counter()
    infos = [counter.info.remote() for _ in range(3)]
    infos += list(counter.info.map(range(10)))
    infos.append(Counter().info.remote())  # a second handle, same parameters
    assert {info["process_enters"] for info in infos} == {1}
    assert {info["instance_enters"] for info in infos} == {1}
    assert len({info["container"] for info in infos}) == 1
    assert len({info["pid"] for info in infos}) == 1
    assert infos[0]["container"].startswith("ct-")
    assert infos[0]["pid"] != os.getpid()


def test_method_sees_state_set_up_by_enter(running):
    counter = Counter()
    assert counter.plus_base.remote(5) == 105
    assert counter.plus_base.remote(5, times=2) == 210
    assert list(counter.plus_base.map([1, 2, 3])) == [101, 102, 103]


def test_parameters_give_different_results_on_different_containers(running):
    hello = Greeter(greeting="hello").greet.remote("ada")
    howdy = Greeter(greeting="howdy", repeat=2).greet.remote("ada")
    hello_again = Greeter(greeting="hello", repeat=1).greet.remote("bob")
    assert hello["text"] == "hello ada"
    assert howdy["text"] == "howdy ada howdy ada"
    assert hello_again["text"] == "hello bob"
    assert hello["container"] != howdy["container"]
    assert hello["container"] == hello_again["container"]


def test_missing_or_unknown_parameters_are_rejected():
    with pytest.raises(InvalidError, match="greeting"):
        Greeter()
    with pytest.raises(InvalidError, match="colour"):
        Greeter(greeting="hi", colour="red")


def test_exit_runs_when_the_container_stops(workdir):
    with exit_app.run():
        container = Farewell().where.remote()
        assert not (workdir / f"exit-{container}.txt").exists()
    marker = workdir / f"exit-{container}.txt"
    assert _wait_for(marker), "the @exit hook left no mark after the app stopped"
    assert marker.read_text() == f"exited {container}"


def test_local_runs_a_method_here_with_enter_run_once():
    counter = Counter()
    first = counter.info.local()
    second = counter.info.local()
    assert first["pid"] == os.getpid()
    assert first["container"] is None
    assert first["instance_enters"] == second["instance_enters"] == 1
    assert counter.plus_base.local(1, times=3) == 303


def test_calling_an_unmarked_method_explains_what_is_missing():
    with pytest.raises((AttributeError, InvalidError), match=r"strato\.method") as raised:
        Counter().helper.remote()
    assert "helper" in str(raised.value)


def test_class_with_init_arguments_is_rejected():
    other_app = strato.App("cls-rejects-init")
    with pytest.raises(InvalidError, match="parameter"):

        @other_app.cls()
        class NeedsArgs:
            def __init__(self, x: int) -> None:
                self.x = x

            @strato.method()
            def get(self) -> int:
                return self.x

    assert other_app.registered_classes == {}


def test_class_inheriting_init_arguments_is_rejected():
    other_app = strato.App("cls-rejects-inherited-init")

    class Base:
        def __init__(self, x: int) -> None:
            self.x = x

    with pytest.raises(InvalidError, match="parameter"):

        @other_app.cls()
        class InheritsArgs(Base):
            @strato.method()
            def get(self) -> int:
                return self.x
