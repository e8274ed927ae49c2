"""``Dict.get`` and ``Queue.put`` round trips on the embedded default, against the floor.

Baselines measured in this run: a raw ``sqlite3`` read of the same kind of row in a WAL
database of this process (the storage floor: what the control plane's read costs with no
RPC, no pickling and no SQLAlchemy), and a pipe round trip to a persistent worker process.

Goal: p50 under 1 ms for both.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time

import _common

import strato


def strato_latency(calls: int = 3000) -> tuple[dict[str, float], dict[str, float]]:
    d = strato.Dict.from_name("bench-dict", create_if_missing=True)
    q = strato.Queue.from_name("bench-queue", create_if_missing=True)
    d["key"] = "value"
    q.clear()
    for _ in range(300):  # warm up
        d.get("key")
    gets = []
    for _ in range(calls):
        started = time.perf_counter()
        d.get("key")
        gets.append(time.perf_counter() - started)
    puts = []
    for i in range(calls):
        if i % 4000 == 3999:
            q.clear()  # stay under the 5,000-item partition limit
        started = time.perf_counter()
        q.put(i)
        puts.append(time.perf_counter() - started)
    q.clear()
    return _common.summary(gets), _common.summary(puts)


def sqlite_read(calls: int = 3000) -> dict[str, float]:
    """A primary-key read of one small blob from a WAL SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "floor.db"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB)")
        conn.execute("INSERT INTO kv VALUES (?, ?)", (b"k" * 32, b"value"))
        conn.commit()
        samples = []
        for _ in range(calls + 300):
            started = time.perf_counter()
            conn.execute("SELECT v FROM kv WHERE k = ?", (b"k" * 32,)).fetchone()
            samples.append(time.perf_counter() - started)
        conn.close()
    return _common.summary(samples[300:])


def main() -> None:
    get, put = strato_latency()
    floor = sqlite_read()
    pipe = _common.pipe_round_trip()
    ms = 1000.0
    rows = [
        (
            "strato Dict.get p50",
            f"{get['p50'] * ms:.3f} ms",
            f"p90 {get['p90'] * ms:.3f} ms, p99 {get['p99'] * ms:.3f} ms (goal < 1 ms)",
        ),
        (
            "strato Queue.put p50",
            f"{put['p50'] * ms:.3f} ms",
            f"p90 {put['p90'] * ms:.3f} ms, p99 {put['p99'] * ms:.3f} ms (goal < 1 ms)",
        ),
        (
            "raw sqlite3 read p50 (floor)",
            f"{floor['p50'] * ms:.3f} ms",
            f"Dict.get / sqlite = {get['p50'] / floor['p50']:.1f}x",
        ),
        (
            "pipe round trip p50",
            f"{pipe['p50'] * ms:.3f} ms",
            f"Dict.get / pipe = {get['p50'] / pipe['p50']:.2f}x,"
            f" Queue.put / pipe = {put['p50'] / pipe['p50']:.2f}x",
        ),
    ]
    _common.report(
        "dict_queue",
        rows,
        {"dict_get": get, "queue_put": put, "sqlite_read": floor, "pipe": pipe},
    )


if __name__ == "__main__":
    main()
