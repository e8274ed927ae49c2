"""``.map`` of a trivial function over 100,000 inputs on the embedded default, against Ray's
local task throughput measured in this run.

Goals: 20,000 inputs/s or more, and at least 15x Ray's tasks/s.
"""

from __future__ import annotations

import statistics
import sys
import time

import _common

import strato

app = strato.App("bench-map")


@app.function()
def double(x: int) -> int:
    return x * 2


def strato_throughput(n: int, reps: int = 3) -> float:
    with app.run():
        list(double.map(range(5000)))
        runs = []
        for _ in range(reps):
            started = time.perf_counter()
            count = sum(1 for _ in double.map(range(n)))
            runs.append(time.perf_counter() - started)
            assert count == n
    return n / statistics.median(runs)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    ours = strato_throughput(n)
    ray = _common.ray_figures(calls=200)
    rows = [
        (
            f"strato .map over {n:,}",
            f"{ours:,.0f}/s",
            "goal >= 20,000/s: " + ("met" if ours >= 20_000 else "NOT met"),
        )
    ]
    if ray is not None:
        ratio = ours / ray["tasks_per_s"]
        rows.append(
            (
                "ray tasks (peer)",
                f"{ray['tasks_per_s']:,.0f}/s",
                f"strato / ray = {ratio:.1f}x (goal >= 15x)",
            )
        )
    else:
        rows.append(("ray", "not installed", "pip install ray for the peer baseline"))
    _common.report("map_throughput", rows, {"strato_inputs_per_s": ours, "n": n, "ray": ray})


if __name__ == "__main__":
    main()
