"""What the caller sees when a remote call fails: the original exception, its remote
traceback, and clear errors for values that cannot cross the wire."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

import strato
from strato.exception import SerializationError

app = strato.App("remote-errors")


class AppSpecificError(Exception):
    """An exception class from the user's own (importable) module."""


class TwoArgumentError(Exception):
    """Pickles its args as one tuple element but needs two to be rebuilt."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(first)
        self.second = second


@app.function()
def raise_value_error(x: int) -> None:
    raise ValueError(f"bad value {x}")  # the raise line the traceback must show


@app.function()
def raise_app_specific() -> None:
    raise AppSpecificError("from the container")


@app.function()
def raise_two_argument_error() -> None:
    raise TwoArgumentError("first", "second")


@app.function()
def accept_anything(a: object, b: object = None, lock: object = None) -> str:
    return "ran"


@app.function()
def return_lock_for_two(x: int) -> object:
    if x == 2:
        return threading.Lock()
    return x * 10


@app.function()
def fail_on_odd(x: int) -> int:
    if x % 2:
        raise KeyError(x)
    return x


def test_remote_exception_keeps_its_type_and_message(workdir):
    with app.run():
        with pytest.raises(ValueError, match="bad value 3"):
            raise_value_error.remote(3)


def test_remote_traceback_is_chained_as_cause(workdir):
    with app.run():
        with pytest.raises(ValueError) as info:
            raise_value_error.remote(4)
    cause = info.value.__cause__
    assert cause is not None
    text = str(cause)
    assert "raise_value_error" in text
    assert 'raise ValueError(f"bad value {x}")' in text
    assert "test_remote_errors.py" in text
    assert "ValueError: bad value 4" in text


def test_exception_from_the_users_module_arrives_as_the_same_class(workdir):
    with app.run():
        with pytest.raises(AppSpecificError, match="from the container") as info:
            raise_app_specific.remote()
    assert type(info.value) is AppSpecificError


def test_exception_whose_constructor_cannot_be_replayed_arrives_as_its_own_class(workdir):
    with app.run():
        with pytest.raises(TwoArgumentError) as info:
            raise_two_argument_error.remote()
    assert info.value.args == ("first",)
    assert "raise_two_argument_error" in str(info.value.__cause__)


def test_exception_class_from_a_main_script_arrives_as_the_same_class(tmp_path):
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import strato

            app = strato.App("main-script-errors")


            class MyError(Exception):
                pass


            @app.function()
            def fail(x):
                raise MyError(f"custom {x}")


            if __name__ == "__main__":
                with app.run():
                    try:
                        fail.remote(5)
                    except MyError as exc:
                        print("CAUGHT-SAME-CLASS", exc)
                    except Exception as exc:
                        print("WRONG-CLASS", type(exc).__module__, type(exc).__qualname__, exc)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "CAUGHT-SAME-CLASS custom 5" in result.stdout, result.stdout + result.stderr
    assert "WRONG-CLASS" not in result.stdout


def test_unpicklable_positional_argument_names_its_position(workdir):
    with app.run():
        with pytest.raises(SerializationError, match=r"argument 1 \(lock\)"):
            accept_anything.remote(1, threading.Lock())
        # the failed call left the app usable
        assert accept_anything.remote(1) == "ran"


def test_unpicklable_keyword_argument_names_the_keyword(workdir):
    with app.run():
        with pytest.raises(SerializationError, match=r"argument 'lock'"):
            accept_anything.remote(1, lock=threading.Lock())


def test_unpicklable_argument_in_a_map_raises_in_the_caller(workdir):
    with app.run():
        with pytest.raises(SerializationError, match=r"argument 0"):
            list(accept_anything.map([1, threading.Lock(), 3]))


def test_unpicklable_result_fails_only_that_input(workdir):
    with app.run():
        results = list(
            return_lock_for_two.map(
                range(5), return_exceptions=True, wrap_returned_exceptions=False
            )
        )
    assert len(results) == 5
    assert [results[i] for i in (0, 1, 3, 4)] == [0, 10, 30, 40]
    assert isinstance(results[2], SerializationError)
    assert "cannot be serialized" in str(results[2])


def test_unpicklable_result_of_remote_raises_serialization_error(workdir):
    with app.run():
        with pytest.raises(SerializationError, match="return value"):
            return_lock_for_two.remote(2)
        assert return_lock_for_two.remote(3) == 30


def test_map_raises_the_first_failure_when_not_returning_exceptions(workdir):
    with app.run():
        with pytest.raises(KeyError):
            list(fail_on_odd.map(range(4)))


def test_map_return_exceptions_keeps_order_and_original_types(workdir):
    with app.run():
        results = list(
            fail_on_odd.map(range(6), return_exceptions=True, wrap_returned_exceptions=False)
        )
    assert [r for r in results[::2]] == [0, 2, 4]
    assert all(isinstance(r, KeyError) for r in results[1::2])
    assert [r.args[0] for r in results[1::2]] == [1, 3, 5]
