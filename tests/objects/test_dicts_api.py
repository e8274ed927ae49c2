"""strato.Dict through the public API: from the caller and from functions in local containers."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import strato
from strato.client import Client
from strato.exception import InvalidError, NotFoundError, RequestSizeError

app = strato.App("dicts-api-test")

shared = strato.Dict.from_name("dicts-api-shared", create_if_missing=True)


@app.function()
def write_shared(key: str, value: object) -> int:
    shared[key] = value
    return shared.len()


@app.function()
def read_shared(key: str) -> object:
    return shared.get(key, "<missing>")


@app.function()
def use_passed_dict(d: strato.Dict, key: str) -> object:
    # a Dict passed as an argument arrives as a reference to the same Dict
    d[key] = d[key] + 1
    return d[key]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class CountingClient:
    """The process's client, recording which operations were sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def rpc(self, method, params, timeout=None):
        self.sent.append(method)
        return Client.from_env().rpc(method, params, timeout)

    async def rpc_async(self, method, params):
        self.sent.append(method)
        return await Client.from_env().rpc_async(method, params)


def test_a_function_and_the_caller_see_the_same_dict(workdir):
    shared.clear()
    shared["from-caller"] = {"n": 1}
    with app.run():
        assert write_shared.remote("from-fn", [1, 2, 3]) == 2
        assert read_shared.remote("from-caller") == {"n": 1}
    assert shared["from-fn"] == [1, 2, 3]


def test_a_named_dict_persists_across_two_app_runs(workdir):
    key = _unique("k")
    with app.run():
        write_shared.remote(key, "kept")
    with app.run():
        assert read_shared.remote(key) == "kept"


def test_a_dict_passed_to_a_function_is_the_same_dict(workdir):
    with strato.Dict.ephemeral() as d:
        d["count"] = 41
        with app.run():
            assert use_passed_dict.remote(d, "count") == 42
        assert d["count"] == 42


def test_dict_methods_behave_like_modals():
    d = strato.Dict.from_name(_unique("methods"), create_if_missing=True)
    d["a"] = 1
    d[("tuple", 2)] = "t"
    d[3.5] = None
    assert d["a"] == 1 and d[("tuple", 2)] == "t" and d[3.5] is None
    assert d.get("nope") is None and d.get("nope", 7) == 7
    assert "a" in d and d.contains(("tuple", 2)) and "nope" not in d
    with pytest.raises(KeyError):
        d["nope"]
    assert d.put("a", 2, skip_if_exists=True) is False and d["a"] == 1
    assert d.put("b", 2, skip_if_exists=True) is True
    d.update({"c": 3}, d=4)
    assert d.len() == 6
    assert sorted(map(str, d.keys())) == sorted(map(str, ["a", ("tuple", 2), 3.5, "b", "c", "d"]))
    assert sorted(v for v in d.values() if isinstance(v, int)) == [1, 2, 3, 4]
    assert dict(d.items())["c"] == 3
    assert d.pop("c") == 3 and "c" not in d
    with pytest.raises(KeyError):
        d.pop("c")
    del d["d"]
    with pytest.raises(KeyError):
        del d["d"]
    d.clear()
    assert d.len() == 0 and list(d.items()) == []


def test_iterating_a_large_dict_pages_through_every_entry():
    with strato.Dict.ephemeral() as d:
        d.update({i: "x" * 10_000 for i in range(2500)})
        assert sorted(d.keys()) == list(range(2500))


def test_async_forms():
    async def main(d: strato.Dict) -> list:
        await d.put.aio("k", "v")
        await d.update.aio({"n": 1})
        got = await d.get.aio("k")
        keys = sorted([k async for k in d.keys.aio()])
        return [got, await d.contains.aio("n"), await d.len.aio(), keys, await d.pop.aio("n")]

    with strato.Dict.ephemeral() as d:
        assert asyncio.run(main(d)) == ["v", True, 2, ["k", "n"], 1]


def test_async_ephemeral_block():
    async def main() -> tuple:
        async with strato.Dict.ephemeral() as d:
            await d.put.aio(1, 2)
            return d, await d.get.aio(1)

    d, value = asyncio.run(main())
    assert value == 2
    with pytest.raises(NotFoundError):
        d.get(1)


def test_an_ephemeral_dict_is_gone_after_its_block():
    with strato.Dict.ephemeral() as d:
        d["x"] = 1
        assert d.name is None and d.object_id.startswith("di-")
    with pytest.raises(NotFoundError):
        d["x"]


def test_from_name_without_create_if_missing_needs_an_existing_dict():
    with pytest.raises(NotFoundError, match="no dict named"):
        strato.Dict.from_name(_unique("absent")).get("x")


def test_invalid_names_are_refused_before_anything_is_sent():
    with pytest.raises(InvalidError, match="shorter than 64"):
        strato.Dict.from_name("x" * 64)
    with pytest.raises(InvalidError):
        strato.Dict.from_name("has space")


def test_objects_namespace_creates_lists_and_deletes():
    name = _unique("managed")
    strato.Dict.objects.create(name)
    with pytest.raises(strato.exception.AlreadyExistsError):
        strato.Dict.objects.create(name)
    strato.Dict.objects.create(name, allow_existing=True)
    listed = strato.Dict.objects.list()
    assert name in [d.name for d in listed]
    assert strato.Dict.objects.list(max_objects=1)[0].name == name  # newest first
    info = strato.Dict.from_name(name).info()
    assert info.name == name and info.created_at is not None
    counting = CountingClient()
    hydrated = strato.Dict.from_name(name).hydrate(counting)
    assert hydrated.object_id.startswith("di-") and hydrated.len() == 0
    assert counting.sent == ["dict.lookup", "dict.len"]
    strato.Dict.objects.delete(name)
    assert name not in [d.name for d in strato.Dict.objects.list()]
    with pytest.raises(NotFoundError):
        strato.Dict.objects.delete(name)
    strato.Dict.objects.delete(name, allow_missing=True)
    assert asyncio.run(strato.Dict.objects.list.aio(max_objects=0)) == []


def test_oversize_values_fail_in_the_client_before_sending(monkeypatch):
    import strato.dict as dict_module

    monkeypatch.setattr(dict_module, "MAX_OBJECT_BYTES", 1000)
    counting = CountingClient()
    with strato.Dict.ephemeral(client=counting) as d:
        d.put("small", "x" * 100)
        sent_before = list(counting.sent)
        with pytest.raises(RequestSizeError, match="limit is 1,000 bytes"):
            d.put("big", "x" * 2000)
        with pytest.raises(RequestSizeError):
            d["y" * 2000] = 1
        assert counting.sent == sent_before  # nothing went out
        assert d.len() == 1


def test_the_limits_are_modals():
    import strato.dict as dict_module

    assert dict_module.MAX_OBJECT_BYTES == 100 * 1024 * 1024
    counting = CountingClient()
    with strato.Dict.ephemeral(client=counting) as d:
        with pytest.raises(RequestSizeError, match="10,000"):
            d.update({i: i for i in range(10_001)})
        assert "dict.update" not in counting.sent


def test_the_control_plane_enforces_the_limit_too(monkeypatch):
    import strato.core.objects.dicts as plane_dicts

    monkeypatch.setattr(plane_dicts, "MAX_OBJECT_BYTES", 1000)
    with strato.Dict.ephemeral() as d:
        with pytest.raises(RequestSizeError):
            d.put("big", "x" * 2000)


def test_entries_expire_after_the_ttl_without_reads_or_writes(monkeypatch):
    # Modal's 7 days, shortened on this process's control plane (the embedded default).
    import strato.core.objects.dicts as plane_dicts

    monkeypatch.setattr(plane_dicts, "ENTRY_TTL_S", 0.6)
    with strato.Dict.ephemeral() as d:
        d["idle"] = 1
        d["busy"] = 2
        for _ in range(4):
            time.sleep(0.25)
            assert d["busy"] == 2  # each read keeps it alive
        assert d.get("idle") is None and "idle" not in d
        assert d.len() == 1 and list(d.keys()) == ["busy"]
        assert d.put("idle", 3, skip_if_exists=True) is True  # an expired key counts as absent


def test_a_pickled_dict_keeps_no_client():
    import pickle

    counting = CountingClient()
    with strato.Dict.ephemeral(client=counting) as d:
        clone = pickle.loads(pickle.dumps(d))
        assert clone.object_id == d.object_id and clone._client is None
        d["k"] = "v"
        assert clone["k"] == "v"


def test_ephemeral_with_initial_data_and_the_deprecated_static_delete():
    with strato.Dict.ephemeral({"seed": 1}) as d:
        assert d["seed"] == 1
    name = _unique("static-delete")
    strato.Dict.from_name(name, create_if_missing=True)["k"] = 1
    strato.Dict.delete(name)
    with pytest.raises(NotFoundError):
        strato.Dict.from_name(name).get("k")
