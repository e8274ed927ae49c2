"""The Azure Blob Storage backend of volumes, against a fake Blob service (Shared Key checked)."""

from __future__ import annotations

import io

import pytest
from support import azure_blob_emulator as blob_support
from support.backend_contract import BackendContract
from support.backend_contract import put as _put
from support.backend_contract import read as _read

from strato.core.objects import volume_backend_azure
from strato.core.objects.volume_backend_azure import AzureBlobBackend
from strato.core.objects.volume_backends import open_store
from strato.exception import CredentialsError, InvalidError, NotFoundError

pytest.importorskip("azure.storage.blob")

azure_blob_emulator = blob_support.azure_blob_emulator  # the module-scoped fixture

_STORAGE_ENV = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_storage_credentials_in_the_environment(monkeypatch):
    for name in _STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)


def _azure(emulator, container: str | None = None, prefix: str = "vols/vo-1/", **kwargs):
    kwargs.setdefault("credentials", emulator.credentials)
    return AzureBlobBackend(
        emulator.account,
        container or emulator.container(),
        prefix,
        endpoint=emulator.endpoint,
        **kwargs,
    )


class TestAzureBlobBackend(BackendContract):
    @pytest.fixture
    def backend(self, azure_blob_emulator):
        return _azure(azure_blob_emulator)


def test_a_wrong_key_names_the_container_not_the_key(azure_blob_emulator):
    container = azure_blob_emulator.container({"x": b"1"})
    wrong = "V3JvbmdLZXlWYWx1ZVdyb25nS2V5VmFsdWVXcm9uZ0tleVZhbHVl"
    backend = _azure(azure_blob_emulator, container, credentials={"AZURE_STORAGE_KEY": wrong})
    with pytest.raises(CredentialsError) as caught:
        backend.scan()
    message = str(caught.value)
    assert container in message and azure_blob_emulator.account in message
    assert "AuthenticationFailed" in message
    assert wrong not in message and azure_blob_emulator.key not in message
    assert caught.value.provider == "azure"
    with pytest.raises(CredentialsError):
        backend.stat("x")
    with pytest.raises(CredentialsError):
        backend.read_range("x", 0, 1)


def test_a_sas_token_or_a_connection_string_work_too(azure_blob_emulator, tmp_path):
    container = azure_blob_emulator.container()
    sas = azure_blob_emulator.sas_token()
    backend = _azure(azure_blob_emulator, container, credentials={"AZURE_STORAGE_SAS_TOKEN": sas})
    _put(backend, "a.txt", b"via sas", tmp_path)
    backend.copy("a.txt", "b.txt")  # the copy source is authorized by the same token
    by_string = AzureBlobBackend(
        azure_blob_emulator.account,
        container,
        "vols/vo-1/",
        credentials={"AZURE_STORAGE_CONNECTION_STRING": azure_blob_emulator.connection_string},
    )
    assert _read(by_string, "b.txt") == b"via sas"
    read_only = _azure(
        azure_blob_emulator,
        container,
        credentials={"AZURE_STORAGE_SAS_TOKEN": azure_blob_emulator.sas_token("rl")},
    )
    assert _read(read_only, "a.txt") == b"via sas"
    with pytest.raises(CredentialsError, match="AuthorizationPermissionMismatch") as caught:
        _put(read_only, "c.txt", b"refused", tmp_path)
    assert dict(pair.split("=", 1) for pair in sas.split("&"))["sig"] not in str(caught.value)


def test_no_key_over_http_is_a_credentials_error(azure_blob_emulator):
    with pytest.raises(CredentialsError, match="AZURE_STORAGE_KEY"):
        _azure(azure_blob_emulator, credentials=None)


def test_the_backend_keeps_to_its_prefix(azure_blob_emulator):
    container = azure_blob_emulator.container({"other/x.txt": b"not mine", "mine/y.txt": b"mine"})
    backend = _azure(azure_blob_emulator, container, prefix="mine")
    assert set(backend.scan()[0]) == {"y.txt"}
    assert [e.path for e in backend.listdir("", recursive=False)] == ["y.txt"]
    backend.destroy()
    assert azure_blob_emulator.objects(container) == {"other/x.txt": b"not mine"}


def test_open_store_makes_an_azure_backend_from_a_store_url(azure_blob_emulator, tmp_path):
    container = azure_blob_emulator.container({"volumes/vo-9/seed.txt": b"seed"})
    backend = open_store(
        f"az://{azure_blob_emulator.account}/{container}/volumes/vo-9",
        endpoint=azure_blob_emulator.endpoint,
        credentials=azure_blob_emulator.credentials,
    )
    assert isinstance(backend, AzureBlobBackend) and backend.name == "azure"
    assert backend.prefix == "volumes/vo-9/"
    assert _read(backend, "seed.txt") == b"seed"
    _put(backend, "new.txt", b"new", tmp_path)
    assert azure_blob_emulator.objects(container)["volumes/vo-9/new.txt"] == b"new"


def test_a_large_file_goes_up_in_blocks(azure_blob_emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(volume_backend_azure, "MAX_SINGLE_PUT_SIZE", 1024)
    monkeypatch.setattr(volume_backend_azure, "MAX_BLOCK_SIZE", 700)
    container = azure_blob_emulator.container()
    backend = _azure(azure_blob_emulator, container)
    data = bytes(range(256)) * 10  # 2560 bytes: four blocks
    before = len(azure_blob_emulator.operations)
    entry = _put(backend, "big.bin", data, tmp_path)
    operations = azure_blob_emulator.operations[before:]
    assert operations.count("PutBlock") == 4 and operations.count("PutBlockList") == 1
    assert "PutBlob" not in operations
    assert azure_blob_emulator.objects(container)["vols/vo-1/big.bin"] == data
    assert entry.size == len(data) and entry.version == backend.stat("big.bin").version
    assert backend.read_range("big.bin", 1000, 2000)[0] == data[1000:]
    fetched = tmp_path / "fetched.bin"
    backend.fetch(entry, fetched)
    assert fetched.read_bytes() == data


def test_deleting_with_a_stale_etag_keeps_the_newer_blob(azure_blob_emulator, tmp_path):
    container = azure_blob_emulator.container()
    backend = _azure(azure_blob_emulator, container)
    old = _put(backend, "f.txt", b"old", tmp_path)
    new = _put(backend, "f.txt", b"new", tmp_path)
    assert not backend.delete_if("f.txt", old.version)
    assert azure_blob_emulator.objects(container) == {"vols/vo-1/f.txt": b"new"}
    assert not backend.delete_if("missing.txt", old.version)
    assert backend.delete_if("f.txt", new.version)
    assert azure_blob_emulator.objects(container) == {}


def test_reads_copies_and_missing_paths(azure_blob_emulator, tmp_path):
    container = azure_blob_emulator.container()
    backend = _azure(azure_blob_emulator, container)
    empty = _put(backend, "empty.txt", b"", tmp_path)
    assert backend.read_range("empty.txt", 0, 10) == (b"", backend.stat("empty.txt"))
    fetched = tmp_path / "empty.out"
    backend.fetch(empty, fetched)
    assert fetched.read_bytes() == b""
    _put(backend, "d/f.txt", b"0123456789", tmp_path)
    data, entry = backend.read_range("d/f.txt", 8, 100)
    assert data == b"89" and entry.size == 10
    assert backend.read_range("d/f.txt", 10, 5)[0] == b""  # past the end
    before = len(azure_blob_emulator.operations)
    backend.copy("d/f.txt", "e/g.txt")
    assert "GetBlob" not in azure_blob_emulator.operations[before:]  # server-side
    with pytest.raises(NotFoundError):
        backend.copy("nothing.txt", "x.txt")
    with pytest.raises(NotFoundError):
        backend.remove("nothing.txt", recursive=False)
    with pytest.raises(InvalidError, match="directory"):
        backend.read_range("d", 0, 1)
    assert backend.stat("nothing") is None
    with pytest.raises(NotFoundError):
        backend.listdir("nothing", recursive=False)


def test_a_copy_the_service_runs_asynchronously_is_waited_for(
    azure_blob_emulator, tmp_path, monkeypatch
):
    container = azure_blob_emulator.container()
    backend = _azure(azure_blob_emulator, container)
    _put(backend, "src.bin", b"payload", tmp_path)
    monkeypatch.setattr(azure_blob_emulator, "pending_copy_reads", 2)
    before = len(azure_blob_emulator.operations)
    backend.copy("src.bin", "dst.bin")
    assert azure_blob_emulator.operations[before:] == ["CopyBlob"] + ["GetBlobProperties"] * 3
    assert _read(backend, "dst.bin") == b"payload"


def test_listings_follow_continuation_markers(azure_blob_emulator, tmp_path, monkeypatch):
    container = azure_blob_emulator.container(
        {f"vols/vo-1/d{i}/f.txt": b"x" for i in range(3)}
        | {f"vols/vo-1/f{i}.txt": b"y" for i in range(4)}
    )
    backend = _azure(azure_blob_emulator, container)
    monkeypatch.setattr(azure_blob_emulator, "max_results", 2)
    files, dirs = backend.scan()
    assert len(files) == 7 and dirs == {"d0", "d1", "d2"}
    names = [(e.path, e.is_dir) for e in backend.listdir("", recursive=False)]
    assert names == [("d0", True), ("d1", True), ("d2", True)] + [
        (f"f{i}.txt", False) for i in range(4)
    ]


def test_a_missing_container_is_not_found(azure_blob_emulator):
    backend = _azure(azure_blob_emulator, "no-such-container")
    with pytest.raises(NotFoundError, match="no-such-container"):
        backend.scan()


def test_a_volume_can_keep_its_committed_files_in_azure_blob_storage(
    azure_blob_emulator, monkeypatch
):
    import strato

    container = azure_blob_emulator.container()
    monkeypatch.setenv(
        "STRATO_VOLUME_STORE", f"az://{azure_blob_emulator.account}/{container}/volumes"
    )
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", azure_blob_emulator.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_KEY", azure_blob_emulator.key)
    with strato.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"in azure"), "a/b.txt")
        assert [e.path for e in vol.listdir("a")] == ["a/b.txt"]
        assert b"".join(vol.read_file("a/b.txt")) == b"in azure"
        assert azure_blob_emulator.objects(container) == {
            f"volumes/{vol.object_id}/a/b.txt": b"in azure"
        }
    assert azure_blob_emulator.objects(container) == {}  # deleting the volume deleted its blobs
