"""Timing helpers and the baselines every benchmark prints its figure next to.

Baselines are measured in the same run, on the same machine: a round trip to a persistent
worker process over a pipe with cloudpickle frames (the floor for a local container), and
Ray's local task API (the peer) when ``ray`` is installed.
"""

from __future__ import annotations

import json
import os
import statistics
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

_HEADER = struct.Struct("<I")

_PIPE_WORKER = textwrap.dedent(
    """
    import pickle, struct, sys
    header = struct.Struct("<I")
    read, write = sys.stdin.buffer, sys.stdout.buffer
    def frame():
        h = read.read(4)
        return None if len(h) < 4 else read.read(header.unpack(h)[0])
    fn = pickle.loads(frame())
    while (data := frame()) is not None:
        out = pickle.dumps(fn(*pickle.loads(data)), 5)
        write.write(header.pack(len(out)) + out); write.flush()
    """
)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50": statistics.median(samples),
        "p90": percentile(samples, 0.9),
        "p99": percentile(samples, 0.99),
    }


def double(x: int) -> int:
    return x * 2


def pipe_round_trip(calls: int = 2000) -> dict[str, float]:
    """Sequential calls to a persistent worker process over a pipe (cloudpickle frames)."""
    import cloudpickle

    proc = subprocess.Popen(
        [sys.executable, "-c", _PIPE_WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(data: bytes) -> None:
        proc.stdin.write(_HEADER.pack(len(data)) + data)  # type: ignore[union-attr]

    def recv() -> bytes:
        size = _HEADER.unpack(proc.stdout.read(4))[0]  # type: ignore[union-attr]
        return proc.stdout.read(size)  # type: ignore[union-attr,no-any-return]

    send(cloudpickle.dumps(lambda x: x * 2, 5))
    samples = []
    for i in range(calls + 200):
        started = time.perf_counter()
        send(cloudpickle.dumps((i,), 5))
        recv()
        if i >= 200:
            samples.append(time.perf_counter() - started)
    proc.stdin.close()
    proc.wait()
    return summary(samples)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def ray_figures(calls: int = 2000, tasks: int = 10_000) -> dict[str, Any] | None:
    """Ray's ``ray.get(f.remote(x))`` latency and task throughput on this machine."""
    if not ray_available() or os.environ.get("STRATO_BENCH_NO_RAY"):
        return None
    import ray

    ray.init(
        num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", log_to_driver=False
    )
    try:
        remote_double = ray.remote(double)
        ray.get([remote_double.remote(i) for i in range(2000)])
        samples = []
        for i in range(calls):
            started = time.perf_counter()
            ray.get(remote_double.remote(i))
            samples.append(time.perf_counter() - started)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            ray.get([remote_double.remote(i) for i in range(tasks)])
            runs.append(time.perf_counter() - started)
        return {"latency": summary(samples), "tasks_per_s": tasks / statistics.median(runs)}
    finally:
        ray.shutdown()


def report(name: str, rows: list[tuple[str, str, str]], data: dict[str, Any]) -> None:
    """Print a small table (figure, value, baseline) and save the raw data as JSON."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name}")
    for label, value, note in rows:
        print(f"  {label.ljust(width)}  {value:>14}  {note}")
    out_dir = os.environ.get(
        "STRATO_BENCH_RESULTS", os.path.join(os.path.dirname(__file__), "results")
    )
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump(data, fh, indent=2, default=str)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
