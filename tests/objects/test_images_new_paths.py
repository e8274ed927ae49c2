"""Image files can go to a new top-level path (the sandbox root is a tmpfs over the host)."""

from __future__ import annotations

import strato


def test_a_local_file_added_at_a_new_top_level_path_is_visible(tmp_path, workdir):
    source = tmp_path / "settings.txt"
    source.write_text("from the host")
    image = strato.Image.debian_slim().add_local_file(str(source), "/app/settings.txt")
    app = strato.App("image-new-top-level")

    def read() -> str:
        with open("/app/settings.txt") as fh:
            return fh.read()

    f = app.function(image=image)(read)
    with app.run():
        assert f.remote() == "from the host"
