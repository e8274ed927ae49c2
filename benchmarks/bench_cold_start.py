"""Local container cold start: from the provider starting the process to the worker agent
reporting ready (function imported, ``@enter`` done, first input accepted), as the control
plane records it. Baseline: starting a bare ``python -c pass`` in the same run.

Goal: p50 at most 100 ms.
"""

from __future__ import annotations

import subprocess
import sys
import time

import _common

import strato

app = strato.App("bench-cold-start")


@app.function(scaledown_window=2)
def ping() -> str:
    return "pong"


def cold_starts(rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        with app.run() as running:
            assert ping.remote() == "pong"
            client = running._client
            rows = client.request("GET", f"/v1/apps/{running.app_id}/containers")["containers"]
        for row in rows:
            if row.get("ready_at"):
                samples.append(row["ready_at"] - row["started_at"])
    return samples


def bare_python(rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    ours = _common.summary(cold_starts(rounds))
    bare = _common.summary(bare_python(rounds))
    ms = 1000.0
    rows = [
        (
            "container start to ready p50",
            f"{ours['p50'] * ms:.0f} ms",
            f"p90 {ours['p90'] * ms:.0f} ms; goal p50 <= 100 ms: "
            + ("met" if ours["p50"] <= 0.1 else "NOT met"),
        ),
        (
            "bare `python -c pass` p50",
            f"{bare['p50'] * ms:.0f} ms",
            f"container / bare python = {ours['p50'] / bare['p50']:.1f}x",
        ),
    ]
    _common.report("cold_start", rows, {"strato": ours, "bare_python": bare})


if __name__ == "__main__":
    main()
