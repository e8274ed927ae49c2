"""A volume mounts at a path the host does not have (/data), as on Modal."""

from __future__ import annotations

import strato


def test_a_volume_mounted_at_a_new_top_level_path(workdir):
    volume_app = strato.App("volume-at-data")

    with strato.Volume.ephemeral() as volume:

        def write_then_read() -> str:
            with open("/data/hello.txt", "w") as fh:
                fh.write("kept")
            volume.commit()
            with open("/data/hello.txt") as fh:
                return fh.read()

        f = volume_app.function(volumes={"/data": volume})(write_then_read)
        with volume_app.run():
            assert f.remote() == "kept"
        assert b"".join(volume.read_file("hello.txt")) == b"kept"
