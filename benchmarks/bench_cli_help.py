"""``strato --help`` wall time, beside starting a bare Python interpreter in the same run.

Goal: under 300 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import _common


def timed_runs(command: list[str], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    strato = os.path.join(os.path.dirname(sys.executable), "strato")
    ours = _common.summary(timed_runs([strato, "--help"], rounds))
    bare = _common.summary(timed_runs([sys.executable, "-c", "pass"], rounds))
    ms = 1000.0
    rows = [
        (
            "strato --help p50",
            f"{ours['p50'] * ms:.0f} ms",
            "goal < 300 ms: " + ("met" if ours["p50"] < 0.3 else "NOT met"),
        ),
        (
            "python -c pass p50",
            f"{bare['p50'] * ms:.0f} ms",
            f"strato --help / bare python = {ours['p50'] / bare['p50']:.1f}x",
        ),
    ]
    _common.report("cli_help", rows, {"strato": ours, "bare_python": bare})


if __name__ == "__main__":
    main()
