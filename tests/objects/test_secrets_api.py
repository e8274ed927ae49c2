"""strato.Secret: injected as environment variables, encrypted at rest, never in logs or errors."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid

import pytest
from typer.testing import CliRunner

import strato
from strato.cli.main import app as cli
from strato.config import config_dir, data_dir
from strato.exception import InvalidError, NotFoundError

app = strato.App("secrets-api-test")

# a value that must never be found in plain text anywhere on disk or in any output
PLAIN = f"plaintext-{uuid.uuid4().hex}"
PLAIN_NAME = f"api-secret-{uuid.uuid4().hex[:8]}"


def _digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


@app.function(
    secrets=[
        strato.Secret.from_dict({"SHARED": "first", "ONLY_FIRST": "1"}),
        strato.Secret.from_dict({"SHARED": "second", "DROPPED": None}),
    ]
)
def env_of_two_secrets() -> dict:
    return {k: os.environ.get(k) for k in ("SHARED", "ONLY_FIRST", "DROPPED")}


@app.function(secrets=[strato.Secret.from_name(PLAIN_NAME, required_keys=["TOKEN"])])
def uses_named_secret() -> str | None:
    # report a digest, never the value: outputs are stored too
    print("TOKEN is set:", "TOKEN" in os.environ)
    return _digest(os.environ.get("TOKEN"))


def _create(name: str, *pairs: str, force: bool = False) -> None:
    args = ["secret", "create", name, *pairs] + (["--force"] if force else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


def _database_bytes() -> bytes:
    blobs = b""
    for path in data_dir().glob("strato.db*"):  # the database and its WAL
        blobs += path.read_bytes()
    return blobs


@pytest.fixture(autouse=True)
def named_secret():
    """The app's named secret, as each test expects to find it."""
    _create(PLAIN_NAME, f"TOKEN={PLAIN}", force=True)
    yield


def test_secrets_become_environment_variables_later_ones_winning(workdir):
    with app.run():
        env = env_of_two_secrets.remote()
    assert env == {"SHARED": "second", "ONLY_FIRST": "1", "DROPPED": None}


def test_a_named_secret_is_injected_encrypted_at_rest_and_kept_out_of_logs(workdir, capfd):
    with app.run():
        assert uses_named_secret.remote() == _digest(PLAIN)
        app_id = app.app_id
    out, err = capfd.readouterr()
    assert "TOKEN is set: True" in out
    assert PLAIN not in out + err
    logs = CliRunner().invoke(cli, ["app", "logs", app_id])
    assert "TOKEN is set: True" in logs.output
    assert PLAIN not in logs.output
    assert PLAIN.encode() not in _database_bytes()


def test_the_key_lives_outside_the_database_readable_only_by_its_owner():
    strato.Secret.objects.create(f"key-check-{uuid.uuid4().hex[:8]}", {"A": "b"})
    key_file = config_dir() / "secrets.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.parent != data_dir()


def test_a_missing_required_key_fails_the_app_naming_the_key_not_a_value(workdir):
    name = f"partial-{uuid.uuid4().hex[:8]}"
    _create(name, f"OTHER={PLAIN}")
    needy = strato.App("secrets-needy")

    @needy.function(secrets=[strato.Secret.from_name(name, required_keys=["TOKEN", "OTHER"])])
    def f() -> int:
        return 1

    with pytest.raises(NotFoundError, match="TOKEN") as caught:
        with needy.run():
            pass
    assert "OTHER" not in str(caught.value).split("key(s):")[1]
    assert PLAIN not in str(caught.value)


def test_a_key_removed_while_the_app_runs_fails_its_inputs_naming_the_key(workdir):
    # the check is made again when each container starts
    with app.run():
        _create(PLAIN_NAME, f"NOT_TOKEN={PLAIN}", force=True)
        with pytest.raises(NotFoundError, match=r"missing required key\(s\): TOKEN") as caught:
            uses_named_secret.remote()
    assert PLAIN not in str(caught.value)


def test_a_secret_deleted_while_the_app_runs_fails_its_inputs(workdir):
    with app.run():
        strato.Secret.objects.delete(PLAIN_NAME)
        with pytest.raises(NotFoundError, match="no longer exists"):
            uses_named_secret.remote()


def test_from_name_of_an_unknown_secret_fails_the_app(workdir):
    lonely = strato.App("secrets-lonely")

    @lonely.function(secrets=[strato.Secret.from_name("no-such-secret-anywhere")])
    def f() -> int:
        return 1

    with pytest.raises(NotFoundError, match="no-such-secret-anywhere"):
        with lonely.run():
            pass


def test_from_local_environ_and_from_dotenv(workdir, monkeypatch):
    monkeypatch.setenv("LOCAL_ONLY_VAR", "from-here")
    (workdir / ".env").write_text(
        "# comment\nexport DOTENV_A=alpha\nDOTENV_B='quoted # not a comment'\n"
        'DOTENV_C="line\\nbreak"\nDOTENV_D=bare # trailing comment\n'
    )
    nested = workdir / "nested" / "deeper"
    nested.mkdir(parents=True)
    other = strato.App("secrets-sources")

    @other.function(
        secrets=[
            strato.Secret.from_local_environ(["LOCAL_ONLY_VAR"]),
            strato.Secret.from_dotenv(nested),  # found in a parent directory
        ]
    )
    def read_env() -> dict:
        keys = ("LOCAL_ONLY_VAR", "DOTENV_A", "DOTENV_B", "DOTENV_C", "DOTENV_D")
        return {k: os.environ.get(k) for k in keys}

    with other.run():
        env = read_env.remote()
    assert env == {
        "LOCAL_ONLY_VAR": "from-here",
        "DOTENV_A": "alpha",
        "DOTENV_B": "quoted # not a comment",
        "DOTENV_C": "line\nbreak",
        "DOTENV_D": "bare",
    }
    with pytest.raises(InvalidError, match="NOT_SET_ANYWHERE"):
        strato.Secret.from_local_environ(["NOT_SET_ANYWHERE"])


def test_from_dict_checks_values_without_showing_them():
    with pytest.raises(InvalidError, match="KEY") as caught:
        strato.Secret.from_dict({"KEY": 12345})
    assert "12345" not in str(caught.value)
    secret = strato.Secret.from_dict({"KEY": PLAIN})
    assert PLAIN not in repr(secret)


def test_a_pickled_secret_carries_no_values():
    import pickle

    data = pickle.dumps(strato.Secret.from_dict({"KEY": PLAIN}))
    assert PLAIN.encode() not in data


def test_secrets_made_in_code_are_deleted_after_their_app_stops(workdir):
    from strato.core.service import database_url
    from strato.core.store import Store, make_engine

    store = Store(make_engine(database_url()))

    def stored_for(app_id: str) -> int:
        with store.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT COUNT(*) FROM secrets WHERE app_id = ?", (app_id,)
            ).scalar()

    with app.run():
        env_of_two_secrets.remote()
        first = app.app_id
        assert stored_for(first) == 2
    with app.run():  # storing this run's secrets sweeps the stopped run's
        env_of_two_secrets.remote()
        second = app.app_id
    assert stored_for(first) == 0
    assert stored_for(second) == 2
    store.engine.dispose()


def test_objects_namespace():
    name = f"managed-{uuid.uuid4().hex[:8]}"
    strato.Secret.objects.create(name, {"A": "1"})
    with pytest.raises(strato.exception.AlreadyExistsError):
        strato.Secret.objects.create(name, {"A": "2"})
    strato.Secret.objects.create(name, {"A": "2"}, allow_existing=True)
    assert name in [s.name for s in strato.Secret.objects.list()]
    assert strato.Secret.from_name(name).info().name == name
    strato.Secret.objects.delete(name)
    with pytest.raises(NotFoundError):
        strato.Secret.from_name(name).hydrate()
