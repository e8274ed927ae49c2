"""One program using every kind of object: an image that pip-installs a package the host
does not have, a secret, a volume written from a .map and read back by another function."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import strato

    image = strato.Image.debian_slim().pip_install("tomli-w==1.0.0")
    secret = strato.Secret.from_dict({"SHARD_PREFIX": "shard"})
    volume = strato.Volume.from_name("objects-program-data", create_if_missing=True)
    app = strato.App("objects-program", image=image, secrets=[secret])


    @app.function(volumes={"/data": volume})
    def write_shard(i: int) -> str:
        import os

        import tomli_w  # only in the image

        name = f"{os.environ['SHARD_PREFIX']}-{i}.toml"
        with open(f"/data/{name}", "w") as fh:
            fh.write(tomli_w.dumps({"index": i}))
        volume.commit()
        return name


    @app.function(volumes={"/data": volume})
    def read_all() -> list[str]:
        import os

        volume.reload()
        return sorted(
            open(f"/data/{name}").read().strip() for name in os.listdir("/data")
        )


    @app.local_entrypoint()
    def main(n: int = 6):
        names = list(write_shard.map(range(n)))
        print("WROTE", len(set(names)))
        contents = read_all.remote()
        print("READ", contents)
    """
)


def test_image_secret_and_volume_in_one_program(tmp_path):
    assert importlib.util.find_spec("tomli_w") is None, "the package must come from the image"
    path = tmp_path / "objects_program.py"
    path.write_text(PROGRAM)
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "strato"), "run", str(path), "--n", "6"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WROTE 6" in result.stdout
    expected = sorted(f"index = {i}" for i in range(6))
    assert f"READ {expected}" in result.stdout
