"""Placement plus the provisioning call for one container, against the AWS emulator (a moto
server on 127.0.0.1), beside a bare boto3 ``run_instances`` call to the same server in the
same run (the floor: what the emulator itself costs).

Goal: under 1 s for placement plus provisioning.
"""

from __future__ import annotations

import os
import sys
import time

import _common

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    from support.aws_emulator import AwsEmulator

    from strato.core.placement import PlacementSpec, rank_offers
    from strato.plugins.provider import ContainerSpec

    with AwsEmulator() as emulator:
        provider = emulator.provider()
        spec = PlacementSpec.from_options({"gpu": ["A10"], "cloud": "aws"})
        ours, floor = [], []
        for i in range(rounds + 2):
            container = ContainerSpec(
                f"ct-bench{i:010d}", "ap-bench", "fu-bench", "f", "http://127.0.0.1:9", "t"
            )
            started = time.perf_counter()
            offer = rank_offers(spec, providers=["aws"], limit=1)[0].offer
            handle = provider.provision(container, offer)
            elapsed = time.perf_counter() - started
            provider.terminate(handle)
            client = emulator.client("ec2", offer.region)
            image = emulator.images[offer.region]
            started = time.perf_counter()
            reply = client.run_instances(
                ImageId=image, InstanceType=offer.instance_type, MinCount=1, MaxCount=1
            )
            bare = time.perf_counter() - started
            client.terminate_instances(InstanceIds=[reply["Instances"][0]["InstanceId"]])
            if i >= 2:  # the first rounds warm clients and caches
                ours.append(elapsed)
                floor.append(bare)
    ours_s, floor_s = _common.summary(ours), _common.summary(floor)
    ms = 1000.0
    rows = [
        (
            "placement + provision p50",
            f"{ours_s['p50'] * ms:.0f} ms",
            f"p90 {ours_s['p90'] * ms:.0f} ms; goal < 1 s: "
            + ("met" if ours_s["p90"] < 1 else "NOT met"),
        ),
        (
            "bare boto3 run_instances p50",
            f"{floor_s['p50'] * ms:.0f} ms",
            f"ours / bare = {ours_s['p50'] / floor_s['p50']:.1f}x",
        ),
    ]
    _common.report("provision", rows, {"strato": ours_s, "bare_boto3": floor_s})


if __name__ == "__main__":
    main()
