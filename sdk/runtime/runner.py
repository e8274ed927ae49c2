"""Loading the user's function inside a container and running its inputs.

Synchronous functions run on a pool of ``max_inputs`` threads; coroutine functions run as
tasks on one event loop, at most ``max_inputs`` at a time. Outputs of fast inputs are batched
while more inputs wait, and sent at once otherwise.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import inspect
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strato import _protocol as proto
from strato._serialization import MAIN_ALIAS, serialize_exception, serialize_result
from strato.exception import FunctionTimeoutError, InputCancellation, SerializationError
from strato.runtime.context import _call_id as current_call_id
from strato.runtime.context import _input_id as current_input_id

if TYPE_CHECKING:
    import asyncio

_BATCH_FAST_S = 0.001  # inputs quicker than this have their outputs batched
_BATCH_MAX = 512
_BATCH_MAX_AGE_S = 0.005


def _import_user_module(definition: dict[str, Any]) -> Any:
    module_name = definition.get("module")
    file = definition.get("file")
    if module_name:
        return importlib.import_module(module_name)
    if MAIN_ALIAS in sys.modules:
        return sys.modules[MAIN_ALIAS]
    spec = importlib.util.spec_from_file_location(MAIN_ALIAS, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_ALIAS] = module
    spec.loader.exec_module(module)
    return module


def _raw(obj: Any) -> Any:
    """The user's own function or class behind a Strato wrapper."""
    return getattr(obj, "_strato_raw", obj)


@dataclass
class Target:
    """What a container runs: one function, or one instance of a class with its methods."""

    function: Callable[..., Any] | None
    instance: Any = None
    user_cls: type | None = None

    def resolve(self, method: str | None) -> Callable[..., Any]:
        if self.instance is None:
            assert self.function is not None
            return self.function
        return getattr(self.instance, method or "__call__")


def load_target(definition: dict[str, Any]) -> Target:
    """Import or unpickle the user's function or class, and instantiate a class."""
    if definition.get("pickled") is not None:
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        sent = definition.get("python_version")
        if sent and sent != here:
            raise RuntimeError(
                f"{definition.get('qualname')} was sent by value from Python {sent}, and this "
                f"container runs Python {here}: code objects do not cross versions. Define it "
                "at module level in an importable file, or use an image with the same Python."
            )
        obj = pickle.loads(definition["pickled"])
    else:
        obj = _import_user_module(definition)
        for part in definition["qualname"].split("."):
            obj = getattr(obj, part)
    obj = _raw(obj)
    if definition["kind"] != "class":
        return Target(function=obj)
    instance = obj.__new__(obj)
    params = pickle.loads(definition["params"]) if definition.get("params") else {}
    for name, value in params.items():
        setattr(instance, name, value)
    if obj.__init__ is not object.__init__:
        instance.__init__()
    return Target(function=None, instance=instance, user_cls=obj)


def _hooks(user_cls: type | None, flag: str) -> list[str]:
    if user_cls is None:
        return []
    names = []
    for name, member in inspect.getmembers(user_cls):
        flags = getattr(member, "__strato_flags__", None)
        if flags and flag in flags:
            names.append(name)
    return names


def _run_hook(instance: Any, name: str) -> None:
    result = getattr(instance, name)()
    if inspect.isawaitable(result):
        import asyncio  # only coroutine hooks pay for importing asyncio

        asyncio.run(result)  # type: ignore[arg-type]


class Runner:
    """Runs inputs with the function's input concurrency and timeout."""

    def __init__(
        self,
        target: Target,
        definition: dict[str, Any],
        emit: Callable[[list[list[Any]]], None],
        on_timeout: Callable[[], None],
    ) -> None:
        options = definition.get("options", {})
        self.target = target
        self.emit = emit
        self.on_timeout = on_timeout
        self.max_inputs = int(options.get("max_concurrent_inputs") or 1)
        self.timeout = options.get("timeout")
        self.queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._out_lock = threading.Lock()
        self._pending: list[list[Any]] = []
        self._first_pending = 0.0
        self._running: dict[str, tuple[float, int | None, Any]] = {}
        self._cancelled: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        if self.timeout:
            threading.Thread(target=self._watch_timeouts, daemon=True).start()

    # -- lifecycle -------------------------------------------------------------------------
    def enter(self) -> None:
        for name in _hooks(self.target.user_cls, "enter"):
            _run_hook(self.target.instance, name)

    def exit(self) -> None:
        for name in _hooks(self.target.user_cls, "exit"):
            try:
                _run_hook(self.target.instance, name)
            except Exception:  # noqa: BLE001 - an exit hook failing must not hide others
                import traceback

                traceback.print_exc()

    # -- dispatch ----------------------------------------------------------------------------
    def submit(self, items: list[list[Any]]) -> None:
        for item in items:
            fn = self.target.resolve(item[5])
            if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                self._submit_async(item, fn)
            else:
                if len(self._threads) < self.max_inputs:
                    thread = threading.Thread(target=self._thread_main, daemon=True)
                    self._threads.append(thread)
                    thread.start()
                self.queue.put(item)

    def cancel(self, input_ids: list[str]) -> None:
        for input_id in input_ids:
            self._cancelled.add(input_id)
            entry = self._running.get(input_id)
            if entry is None:
                continue
            _, thread_id, task = entry
            if task is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(task.cancel)
            elif thread_id is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(InputCancellation)
                )

    # -- outputs -----------------------------------------------------------------------------
    def _finish(self, outputs: list[list[Any]], fast: bool) -> None:
        with self._out_lock:
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending.extend(outputs)
            if (
                fast
                and not self.queue.empty()
                and len(self._pending) < _BATCH_MAX
                and time.monotonic() - self._first_pending < _BATCH_MAX_AGE_S
            ):
                return
            pending, self._pending = self._pending, []
            self.emit(pending)

    # -- synchronous inputs ------------------------------------------------------------------
    def _thread_main(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            started = time.perf_counter()
            outputs = self._run_sync(item)
            if outputs:
                self._finish(outputs, time.perf_counter() - started < _BATCH_FAST_S)

    def _run_sync(self, item: list[Any]) -> list[list[Any]]:
        input_id, call_id, _idx, _attempt, args_blob, method = item
        if input_id in self._cancelled:
            return [[input_id, proto.CANCELLED, None, 0, 0.0]]
        deadline = time.monotonic() + self.timeout if self.timeout else float("inf")
        self._running[input_id] = (deadline, threading.get_ident(), None)
        token_i = current_input_id.set(input_id)
        token_c = current_call_id.set(call_id)
        started = time.perf_counter()
        try:
            args, kwargs = pickle.loads(args_blob)
            fn = self.target.resolve(method)
            result = fn(*args, **kwargs)
            if inspect.isgenerator(result):
                count = 0
                for value in result:
                    self._finish(
                        [[input_id, proto.GEN_ITEM, serialize_result(value), count, 0.0]], False
                    )
                    count += 1
                status, data, seq = proto.GEN_DONE, None, count
            else:
                status, data, seq = proto.SUCCESS, _serialize_or_fail(result), 0
                if data is None:
                    status, data = proto.FAILURE, _unserializable(result)
        except InputCancellation:
            status, data, seq = proto.CANCELLED, None, 0
        except BaseException as exc:  # noqa: BLE001 - every user failure is an output
            status, data, seq = proto.FAILURE, serialize_exception(exc), 0
        finally:
            current_input_id.reset(token_i)
            current_call_id.reset(token_c)
            entry = self._running.pop(input_id, None)
        if entry is None:  # the timeout watcher already answered for this input
            return []
        return [[input_id, status, data, seq, time.perf_counter() - started]]

    def _watch_timeouts(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            for input_id, (deadline, _thread_id, task) in list(self._running.items()):
                if now < deadline or task is not None:
                    continue
                if self._running.pop(input_id, None) is None:
                    continue
                error = FunctionTimeoutError(
                    f"input {input_id} ran past the function's timeout of {self.timeout}s"
                )
                self._finish([[input_id, proto.TIMEOUT, serialize_exception(error), 0, 0.0]], False)
                self.on_timeout()

    # -- coroutine inputs --------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio

        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            threading.Thread(target=loop.run_forever, daemon=True, name="strato-async").start()

            async def _make_semaphore() -> None:
                self._semaphore = asyncio.Semaphore(self.max_inputs)

            asyncio.run_coroutine_threadsafe(_make_semaphore(), loop).result()
        return self._loop

    def _submit_async(self, item: list[Any], fn: Callable[..., Any]) -> None:
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(lambda: loop.create_task(self._run_async(item, fn)))

    async def _run_async(self, item: list[Any], fn: Callable[..., Any]) -> None:
        import asyncio

        input_id, call_id, _idx, _attempt, args_blob, _method = item
        assert self._semaphore is not None
        async with self._semaphore:
            if input_id in self._cancelled:
                self._finish([[input_id, proto.CANCELLED, None, 0, 0.0]], False)
                return
            task = asyncio.current_task()
            self._running[input_id] = (float("inf"), None, task)
            current_input_id.set(input_id)
            current_call_id.set(call_id)
            started = time.perf_counter()
            try:
                args, kwargs = pickle.loads(args_blob)
                if inspect.isasyncgenfunction(fn):
                    coro = self._drain_async_gen(input_id, fn(*args, **kwargs))
                    count = await asyncio.wait_for(coro, self.timeout)
                    status, data, seq = proto.GEN_DONE, None, count
                else:
                    result = await asyncio.wait_for(fn(*args, **kwargs), self.timeout)
                    status, data, seq = proto.SUCCESS, _serialize_or_fail(result), 0
                    if data is None:
                        status, data = proto.FAILURE, _unserializable(result)
            except TimeoutError:
                error = FunctionTimeoutError(
                    f"input {input_id} ran past the function's timeout of {self.timeout}s"
                )
                status, data, seq = proto.TIMEOUT, serialize_exception(error), 0
            except (asyncio.CancelledError, InputCancellation):
                status, data, seq = proto.CANCELLED, None, 0
            except BaseException as exc:  # noqa: BLE001
                status, data, seq = proto.FAILURE, serialize_exception(exc), 0
            finally:
                self._running.pop(input_id, None)
            self._finish([[input_id, status, data, seq, time.perf_counter() - started]], False)

    async def _drain_async_gen(self, input_id: str, agen: Any) -> int:
        count = 0
        async for value in agen:
            self._finish([[input_id, proto.GEN_ITEM, serialize_result(value), count, 0.0]], False)
            count += 1
        return count


def _serialize_or_fail(value: Any) -> bytes | None:
    try:
        return serialize_result(value)
    except Exception:  # noqa: BLE001
        return None


def _unserializable(value: Any) -> bytes:
    error = SerializationError(
        f"the function's return value ({type(value).__name__}) cannot be serialized"
    )
    return serialize_exception(error)
