"""What a cloud machine does with a function's image, volumes and bucket mounts.

The machines are AWS instances on moto. Each one runs the start-up script its provider gave
it (bash, curl, tar; Docker played by ``support/fakebin/docker``) in a sandbox with a
filesystem of its own (so ``/data`` is the machine's, not this one's): the script fetches the
runtime and the image's build context from the control plane, and the agent runs from that
runtime. Volumes keep their files in an S3 bucket (a second moto server) that both the control
plane and the machines reach; the container syncs its own copy. Functions are nested so that
they travel by value, as they must to a machine without this repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import shutil
import sys
import time
from typing import Any

import pytest
from support.aws_emulator import aws_emulator  # noqa: F401
from support.azure_blob_emulator import azure_blob_emulator  # noqa: F401
from support.booter import MachineBooter
from support.gcs_emulator import gcs_emulator  # noqa: F401
from support.oci_objectstorage_emulator import oci_storage_emulator  # noqa: F401
from support.s3_emulator import s3_emulator  # noqa: F401

import strato
from strato.exception import InvalidError
from strato.plugins.local.provider import bubblewrap_path
from strato.plugins.manager import default_providers

pytestmark = pytest.mark.skipif(
    bubblewrap_path() is None or shutil.which("curl") is None,
    reason="machines are played by sandboxed agents (bubblewrap) running the script (curl)",
)


@pytest.fixture
def cloud(aws_emulator, s3_emulator, monkeypatch, workdir):  # noqa: F811
    """AWS registered with the plane, volumes kept in S3, machines booted in sandboxes."""
    bucket = s3_emulator.bucket()
    monkeypatch.setenv("STRATO_VOLUME_STORE", f"s3://{bucket}/volumes")
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", s3_emulator.endpoint_url)
    for key, value in s3_emulator.credentials.items():
        monkeypatch.setenv(key, value)
    providers = default_providers()
    providers.register(aws_emulator.provider())
    booter = MachineBooter(sandbox=True, workdir=str(workdir), script=True)
    providers.pm.register(booter)
    try:
        yield {"bucket": bucket, "booter": booter}
    finally:
        providers.pm.unregister(booter)
        booter.stop_all()
        providers.by_name.pop("aws", None)


def writer_factory(volume_name: str) -> Any:
    def write(i: int) -> str:
        import os
        from pathlib import Path

        import strato

        Path("/data/parts").mkdir(exist_ok=True)
        Path(f"/data/parts/{i}.txt").write_text(f"part {i}")
        strato.Volume.from_name(volume_name).commit()
        return os.environ["STRATO_CONTAINER_ID"]

    return write


def reader_factory() -> Any:
    def read() -> dict[str, Any]:
        import errno
        import os

        names = sorted(os.listdir("/data/parts"))
        texts = [open(f"/data/parts/{n}").read() for n in names]
        try:
            open("/data/parts/new.txt", "w").write("should not be written")
            wrote = "yes"
        except OSError as exc:
            wrote = errno.errorcode[exc.errno]
        return {"names": names, "texts": texts, "wrote": wrote}

    return read


def test_a_map_on_cloud_machines_writes_a_volume_another_function_reads(cloud):
    vol = strato.Volume.from_name("cloud-map-volume", create_if_missing=True)
    try:
        app = strato.App("cloud-volumes")
        write = app.function(gpu="T4", cloud="aws", volumes={"/data": vol}, timeout=120)(
            writer_factory("cloud-map-volume")
        )
        read = app.function(gpu="T4", cloud="aws", volumes={"/data": vol.read_only()}, timeout=120)(
            reader_factory()
        )
        with app.run():
            containers = list(write.map(range(4)))
            result = read.remote()
        assert all(c.startswith("ct-") for c in containers)
        assert result["names"] == [f"{i}.txt" for i in range(4)]
        assert result["texts"] == [f"part {i}" for i in range(4)]
        assert result["wrote"] in ("EROFS", "EACCES")  # a read-only bind, or no write bits
        # the files are in the volume, for the client too
        assert sorted(e.path for e in vol.listdir("parts")) == [f"parts/{i}.txt" for i in range(4)]
        assert b"".join(vol.read_file("parts/2.txt")) == b"part 2"
        assert len(cloud["booter"].booted) >= 2  # the writers and the reader: machines apart
    finally:
        strato.Volume.objects.delete("cloud-map-volume")


def test_a_container_commits_at_a_normal_stop_and_the_volume_has_no_secret(cloud):
    vol = strato.Volume.from_name("cloud-exit-commit", create_if_missing=True)
    try:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"from the client"), "seed.txt")

        def touch() -> dict[str, Any]:
            import os
            from pathlib import Path

            import strato

            Path("/data/late.txt").write_text("committed when the container stopped")
            return {"files": sorted(os.listdir("/data")), "strato": strato.__file__}

        app = strato.App("cloud-exit-commit")
        f = app.function(gpu="T4", cloud="aws", volumes={"/data": vol}, timeout=120)(touch)
        with app.run():
            result = f.remote()
        assert result["files"] == ["late.txt", "seed.txt"]
        # the machine ran the agent from the runtime its start-up script fetched
        assert result["strato"].startswith("/tmp/strato-machine-ct-")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "late.txt" in [e.path for e in vol.listdir("/")]:
                break
            time.sleep(0.2)
        assert b"".join(vol.read_file("late.txt")) == b"committed when the container stopped"
        for booted in cloud["booter"].booted:
            script_env = booted["env"]
            assert "AWS_SECRET_ACCESS_KEY" not in script_env
            assert "volumes" not in str(script_env.get("STRATO_VOLUME_MOUNTS", "")).lower() or (
                "credentials" not in script_env.get("STRATO_VOLUME_MOUNTS", "")
            )
    finally:
        strato.Volume.objects.delete("cloud-exit-commit")


def test_a_volume_needs_a_bucket_store_to_reach_a_cloud_machine(cloud, monkeypatch):
    monkeypatch.delenv("STRATO_VOLUME_STORE")
    with strato.Volume.ephemeral() as vol:
        app = strato.App("cloud-volume-local-store")
        f = app.function(gpu="T4", cloud="aws", volumes={"/data": vol}, timeout=60)(
            reader_factory()
        )
        with app.run():
            with pytest.raises(InvalidError, match="STRATO_VOLUME_STORE"):
                f.remote()


def test_a_bucket_mount_on_a_cloud_machine_reads_and_writes_back(cloud, s3_emulator):  # noqa: F811
    bucket = s3_emulator.bucket({"in/a.txt": b"alpha", "in/b/c.txt": b"gamma", "other": b"x"})
    secret = strato.Secret.from_dict(s3_emulator.credentials)
    mount = strato.CloudBucketMount(
        bucket, bucket_endpoint_url=s3_emulator.endpoint_url, key_prefix="in/", secret=secret
    )
    read_only = strato.CloudBucketMount(
        bucket,
        bucket_endpoint_url=s3_emulator.endpoint_url,
        key_prefix="in/",
        secret=secret,
        read_only=True,
    )

    def use() -> dict[str, Any]:
        import errno
        import os

        found = sorted(
            os.path.relpath(os.path.join(root, name), "/bucket")
            for root, _dirs, files in os.walk("/bucket")
            for name in files
        )
        text = open("/bucket/b/c.txt").read()
        open("/bucket/new.txt", "w").write("from a cloud machine")
        try:
            open("/frozen/nope.txt", "w").write("no")
            wrote = "yes"
        except OSError as exc:
            wrote = errno.errorcode[exc.errno]
        return {"found": found, "text": text, "wrote": wrote}

    app = strato.App("cloud-bucket-mount")
    f = app.function(
        gpu="T4", cloud="aws", volumes={"/bucket": mount, "/frozen": read_only}, timeout=120
    )(use)
    with app.run():
        result = f.remote()
    assert result["found"] == ["a.txt", "b/c.txt"] and result["text"] == "gamma"
    assert result["wrote"] in ("EROFS", "EACCES")  # a read-only bind, or no write bits
    deadline = time.monotonic() + 20
    while "in/new.txt" not in s3_emulator.objects(bucket) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert s3_emulator.objects(bucket)["in/new.txt"] == b"from a cloud machine"
    assert "nope.txt" not in str(s3_emulator.objects(bucket))


def test_a_cloud_machine_gets_the_image_build_context_from_the_control_plane(cloud, workdir):
    (workdir / "settings.toml").write_text("answer = 42\n")

    def bake() -> None:
        import os

        os.environ.setdefault("BAKED", "1")  # runs at build time; nothing to leave behind

    image = (
        strato.Image.debian_slim()
        .add_local_file(workdir / "settings.toml", "/app/settings.toml", copy=True)
        .env({"STAGE": "cloud"})
        .run_function(bake)
    )

    def context() -> dict[str, Any]:
        import os

        root = os.path.join(os.environ["STRATO_MACHINE_ROOT"], "image")
        files = {}
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                files[os.path.relpath(path, root)] = open(path, "rb").read()
        return files

    app = strato.App("cloud-image-context")
    f = app.function(gpu="T4", cloud="aws", image=image, timeout=120)(context)
    with app.run():
        files = f.remote()
    dockerfile = files.pop("Dockerfile").decode()
    assert dockerfile == image.dockerfile()
    assert "ENV STAGE=cloud" in dockerfile or 'ENV STAGE="cloud"' in dockerfile
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    local = [c for c in copied if not c.startswith("--from")]
    assert len(local) == 2
    for source in local:  # a file of the context, or a folder of it
        assert source in files or any(f.startswith(source) for f in files), (source, files)
    assert files[next(s for s in local if s.endswith("settings.toml"))] == b"answer = 42\n"
    assert any(name.endswith("payload.pkl") for name in files)  # run_function's call


def _store(kind: str, request: Any) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """A fresh volume store of ``kind`` on its emulator: (URL, endpoint, the values that
    reach it, what the control plane's environment needs)."""
    if kind == "s3":
        emulator = request.getfixturevalue("s3_emulator")
        creds = emulator.credentials
        return f"s3://{emulator.bucket()}/vols", emulator.endpoint_url, creds, creds
    if kind == "gs":
        emulator = request.getfixturevalue("gcs_emulator")
        # the plane reads it anonymously (an endpoint and no key); machines use the key
        return (
            f"gs://{emulator.bucket(anonymous=True)}/vols",
            emulator.endpoint,
            (emulator.credentials),
            {},
        )
    if kind == "az":
        emulator = request.getfixturevalue("azure_blob_emulator")
        url = f"az://{emulator.account}/{emulator.container()}/vols"
        return url, emulator.endpoint, emulator.credentials, emulator.credentials
    emulator = request.getfixturevalue("oci_storage_emulator")
    url = f"oci://{emulator.bucket()}@{emulator.namespace}/vols"
    return url, emulator.endpoint, emulator.credentials, emulator.credentials


@pytest.mark.parametrize("kind", ["s3", "gs", "az", "oci"])
def test_a_cloud_machine_syncs_a_volume_kept_in_each_bucket_store(
    cloud, kind, request, monkeypatch
):
    url, endpoint, machine_values, plane_env = _store(kind, request)
    monkeypatch.setenv("STRATO_VOLUME_STORE", url)
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", endpoint)
    for key, value in plane_env.items():
        monkeypatch.setenv(key, value)
    secret_name = f"volume-store-{kind}"
    strato.Secret.objects.create(secret_name, machine_values, allow_existing=True)
    monkeypatch.setenv("STRATO_VOLUME_STORE_SECRET", secret_name)
    vol = strato.Volume.from_name(f"cloud-store-{kind}", create_if_missing=True)
    try:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"seeded by the client"), "in/seed.txt")

        def roundtrip() -> dict[str, Any]:
            import os
            from pathlib import Path

            seed = Path("/data/in/seed.txt").read_text()
            Path("/data/out.txt").write_text(
                f"{seed}, read on {os.environ['MODAL_CLOUD_PROVIDER']}"
            )
            return {"seed": seed}

        app = strato.App(f"cloud-store-{kind}")
        f = app.function(gpu="T4", cloud="aws", volumes={"/data": vol}, timeout=120)(roundtrip)
        with app.run():
            result = f.remote()
        assert result["seed"] == "seeded by the client"
        for booted in cloud["booter"].booted:  # the store's key reached the machine unwritten
            script = booted["handle"].data["startup_script"]
            secret = [
                v for k, v in machine_values.items() if "SECRET" in k or "KEY" in k or "JSON" in k
            ]
            assert secret and all(value not in script for value in secret)
        deadline = time.monotonic() + 20
        while "out.txt" not in [e.path for e in vol.listdir("/")]:
            assert time.monotonic() < deadline, "the container's change was never committed"
            time.sleep(0.2)
        assert b"".join(vol.read_file("out.txt")) == b"seeded by the client, read on aws"
    finally:
        strato.Volume.objects.delete(f"cloud-store-{kind}")


def test_a_function_from_a_package_runs_on_a_machine_without_its_files(cloud, tmp_path_factory):
    project = tmp_path_factory.mktemp("elsewhere") / "project"  # not the machine's workdir
    package = project / "cloudjobs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (package / "jobs.py").write_text(
        "import strato\n"
        "from cloudjobs.helpers import double\n"
        "\n"
        'app = strato.App("cloud-source")\n'
        "\n"
        '@app.function(gpu="T4", cloud="aws", timeout=120)\n'
        "def work(x):\n"
        "    import cloudjobs\n"
        '    return {"value": double(x), "from": cloudjobs.__file__}\n'
    )
    sys.path.insert(0, str(project))
    try:
        jobs = importlib.import_module("cloudjobs.jobs")
    finally:
        sys.path.remove(str(project))  # the machines boot without it (see MachineBooter)
    try:
        with jobs.app.run():
            result = jobs.work.remote(21)
        assert result["value"] == 42
        # imported from the files the container fetched, not from this machine's
        assert not result["from"].startswith(str(project))
        assert result["from"] in (
            "/root/cloudjobs/__init__.py",
            "/tmp/strato-source/cloudjobs/__init__.py",
        )
    finally:
        for name in [m for m in sys.modules if m == "cloudjobs" or m.startswith("cloudjobs.")]:
            del sys.modules[name]


def test_the_entry_file_of_an_app_reaches_a_machine_without_it(cloud, tmp_path_factory):
    """What ``strato run script.py`` registers: functions of the script itself."""
    from strato._serialization import MAIN_ALIAS

    script = tmp_path_factory.mktemp("scripts") / "entry_app.py"
    script.write_text(
        "import strato\n"
        "\n"
        'app = strato.App("cloud-entry-file")\n'
        "\n"
        "def triple(x):\n"
        "    return 3 * x\n"
        "\n"
        '@app.function(gpu="T4", cloud="aws", timeout=120)\n'
        "def work(x):\n"
        '    return {"value": triple(x), "file": __file__}\n'
    )
    spec = importlib.util.spec_from_file_location(MAIN_ALIAS, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_ALIAS] = module
    try:
        spec.loader.exec_module(module)
        with module.app.run():
            result = module.work.remote(5)
        assert result["value"] == 15
        assert result["file"] != str(script) and result["file"].endswith("/entry_app.py")
    finally:
        sys.modules.pop(MAIN_ALIAS, None)
