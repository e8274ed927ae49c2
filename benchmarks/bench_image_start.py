"""Images on the local provider: what a cached image adds to a container's start, and what a
rebuild reruns.

1. Container start to ready (as the control plane records it, like ``bench_cold_start``) for
   a function without an image and one with a cached image, in the same app runs, rounds
   interleaved; the first round (fork servers starting) is left out. Goal: the image adds
   under 50 ms at p50.
2. Layer counts and times of a first build, a rebuild with nothing changed, and a rebuild
   after changing only the last layer. Goal: the last-layer change builds exactly one layer.

Runs on a fresh data dir (a temporary folder) so that "first build" means first.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

os.environ.setdefault("STRATO_DATA_DIR", tempfile.mkdtemp(prefix="strato-bench-image-"))

import _common  # noqa: E402

import strato  # noqa: E402

NONCE = {"BENCH_NONCE": uuid.uuid4().hex}
IMAGE = strato.Image.debian_slim().env(NONCE).pip_install("tomli-w")
app = strato.App("bench-image-start")


@app.function(scaledown_window=2)
def plain() -> str:
    return "pong"


@app.function(scaledown_window=2, image=IMAGE)
def imaged() -> str:
    import tomli_w  # noqa: F401 - the image's package, to show it is the image's Python

    return "pong"


def start_times(rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"plain": [], "imaged": []}
    for round_number in range(rounds + 1):
        with app.run() as running:
            assert plain.remote() == "pong"
            assert imaged.remote() == "pong"
            rows = running._client.request("GET", f"/v1/apps/{running.app_id}/containers")
        if round_number == 0:
            continue  # fork servers start in the first round: leave it out for both
        for row in rows["containers"]:
            if row.get("ready_at") and row.get("function_name") in samples:
                samples[row["function_name"]].append(row["ready_at"] - row["started_at"])
    return samples


def _describe(report: dict) -> tuple[str, str]:
    counts: dict[str, int] = {}
    built_seconds = 0.0
    for layer in report["layers"]:
        counts[layer["status"]] = counts.get(layer["status"], 0) + 1
        built_seconds += layer["seconds"]
    text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return text, f"{built_seconds:.2f} s building layers"


def rebuilds() -> list[tuple[str, dict, float]]:
    from strato.client import Client

    client = Client.from_env()
    nonce = {"BENCH_REBUILD": uuid.uuid4().hex}
    base = strato.Image.debian_slim().env(nonce).pip_install("tomli-w")
    out = []
    for label, image in (
        ("first build", base.pip_install("inflection")),
        ("rebuild, nothing changed", base.pip_install("inflection")),
        ("rebuild, last layer changed", base.pip_install("text-unidecode")),
    ):
        started = time.perf_counter()
        report = image._build_with(client, None, force=False, out=None)
        out.append((label, report, time.perf_counter() - started))
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    IMAGE.build(quiet=True)  # measure starts with the image cached
    samples = start_times(rounds)
    plain_s, imaged_s = _common.summary(samples["plain"]), _common.summary(samples["imaged"])
    ms = 1000.0
    added = (imaged_s["p50"] - plain_s["p50"]) * ms
    rows = [
        ("start to ready, no image, p50", f"{plain_s['p50'] * ms:.1f} ms",
         f"p90 {plain_s['p90'] * ms:.1f} ms, n={plain_s['n']}"),
        ("start to ready, cached image, p50", f"{imaged_s['p50'] * ms:.1f} ms",
         f"p90 {imaged_s['p90'] * ms:.1f} ms, n={imaged_s['n']}"),
        ("added by the image, p50", f"{added:+.1f} ms",
         "goal < 50 ms: " + ("met" if added < 50 else "NOT met")),
    ]  # fmt: skip
    data: dict = {"start": {"plain": plain_s, "imaged": imaged_s, "added_ms": added}}
    data["rebuilds"] = []
    for label, report, seconds in rebuilds():
        counts, building = _describe(report)
        rows.append((label, f"{seconds:.2f} s", f"{counts}; {building}"))
        data["rebuilds"].append({"label": label, "seconds": seconds, "layers": report["layers"]})
    last = data["rebuilds"][-1]["layers"]
    rebuilt = [layer["index"] for layer in last if layer["status"] == "built"]
    rows.append(
        (
            "layers rerun by a last-layer change",
            str(rebuilt),
            "goal: only the last one: " + ("met" if rebuilt == [len(last)] else "NOT met"),
        )
    )
    _common.report("image_start", rows, data)


if __name__ == "__main__":
    main()
