"""parse_gpu and GPURequest against Modal's GPU guide."""

from __future__ import annotations

import pytest

import strato.pricing.gpu as gpu_module
from strato.exception import InvalidError
from strato.pricing.gpu import (
    GPU_TYPES,
    UPGRADES,
    GPURequest,
    canonical_gpu_name,
    parse_gpu,
)

ALL_TYPES = ("T4", "L4", "A10", "A100-40GB", "A100-80GB", "L40S", "H100", "H200", "B200")


def test_all_names_in_dunder_all_exist() -> None:
    for name in gpu_module.__all__:
        assert hasattr(gpu_module, name), name


def test_gpu_types_are_modals() -> None:
    assert tuple(GPU_TYPES) == ALL_TYPES
    assert {name: t.memory_gib for name, t in GPU_TYPES.items()} == {
        "T4": 16,
        "L4": 24,
        "A10": 24,
        "A100-40GB": 40,
        "A100-80GB": 80,
        "L40S": 48,
        "H100": 80,
        "H200": 141,
        "B200": 180,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("T4", GPURequest("T4", 1, True)),
        ("L4", GPURequest("L4", 1, True)),
        ("A10", GPURequest("A10", 1, True)),
        ("A10G", GPURequest("A10", 1, True)),
        ("A100", GPURequest("A100-40GB", 1, True)),
        ("A100-40GB", GPURequest("A100-40GB", 1, False)),
        ("A100-80GB", GPURequest("A100-80GB", 1, True)),
        ("L40S", GPURequest("L40S", 1, True)),
        ("H100", GPURequest("H100", 1, True)),
        ("H100!", GPURequest("H100", 1, False)),
        ("H200", GPURequest("H200", 1, True)),
        ("B200", GPURequest("B200", 1, True)),
        ("any", GPURequest("any", 1, True)),
    ],
)
def test_every_modal_spelling_parses(spec: str, expected: GPURequest) -> None:
    assert parse_gpu(spec) == [expected]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("h100", GPURequest("H100", 1, True)),
        ("a10g", GPURequest("A10", 1, True)),
        ("a100-80gb:2", GPURequest("A100-80GB", 2, True)),
        ("l40s", GPURequest("L40S", 1, True)),
        ("ANY", GPURequest("any", 1, True)),
        ("Any:4", GPURequest("any", 4, True)),
        ("h100!:8", GPURequest("H100", 8, False)),
        (" t4 : 2 ", GPURequest("T4", 2, True)),
    ],
)
def test_spelling_is_case_insensitive(spec: str, expected: GPURequest) -> None:
    assert parse_gpu(spec) == [expected]


@pytest.mark.parametrize("name", ["B200", "H200", "H100", "A100", "A100-80GB", "L4", "T4", "L40S"])
def test_count_up_to_eight(name: str) -> None:
    assert [request.count for request in parse_gpu(f"{name}:8")] == [8]
    assert [request.count for request in parse_gpu(f"{name}:1")] == [1]


def test_a10_allows_up_to_four() -> None:
    assert parse_gpu("A10:4")[0].count == 4
    assert parse_gpu("A10G:4")[0].count == 4


def test_none_means_no_gpu() -> None:
    assert parse_gpu(None) == []


def test_list_is_an_ordered_fallback() -> None:
    assert parse_gpu(["H100", "A100-40GB:2", "any"]) == [
        GPURequest("H100", 1, True),
        GPURequest("A100-40GB", 2, False),
        GPURequest("any", 1, True),
    ]
    assert parse_gpu(("L4", "T4")) == [GPURequest("L4"), GPURequest("T4")]


def test_repeated_entry_is_kept_once_at_its_first_place() -> None:
    assert parse_gpu(["L4", "T4", "l4"]) == [GPURequest("L4"), GPURequest("T4")]


def test_h100_may_upgrade_to_h200() -> None:
    assert parse_gpu("H100:2")[0].acceptable_types() == ("H100", "H200")


def test_h100_bang_never_upgrades() -> None:
    assert parse_gpu("H100!")[0].acceptable_types() == ("H100",)


def test_a100_may_upgrade_to_80gb_but_a100_40gb_does_not() -> None:
    assert parse_gpu("A100")[0].acceptable_types() == ("A100-40GB", "A100-80GB")
    assert parse_gpu("A100-40GB")[0].acceptable_types() == ("A100-40GB",)


@pytest.mark.parametrize("name", ["T4", "L4", "A10", "A100-80GB", "L40S", "H200", "B200"])
def test_types_without_an_upgrade_accept_only_themselves(name: str) -> None:
    assert parse_gpu(name)[0].acceptable_types() == (name,)


def test_upgrade_targets_are_known_types() -> None:
    for source, targets in UPGRADES.items():
        assert source in GPU_TYPES
        assert all(target in GPU_TYPES for target in targets)


def test_any_accepts_every_type() -> None:
    assert parse_gpu("any")[0].acceptable_types() == ALL_TYPES


def test_any_with_more_than_four_excludes_a10() -> None:
    accepted = parse_gpu("any:8")[0].acceptable_types()
    assert "A10" not in accepted
    assert set(accepted) == set(ALL_TYPES) - {"A10"}


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("T4", "T4"),
        ("A10G:2", "A10:2"),
        ("A100", "A100"),
        ("A100-40GB:4", "A100-40GB:4"),
        ("H100!:2", "H100!:2"),
        ("any:3", "any:3"),
    ],
)
def test_request_prints_in_modals_spelling(spec: str, text: str) -> None:
    request = parse_gpu(spec)[0]
    assert str(request) == text
    assert parse_gpu(str(request)) == [request]


def test_unknown_type_names_argument_valid_types_and_nearest() -> None:
    with pytest.raises(InvalidError) as info:
        parse_gpu("X100")
    message = str(info.value)
    assert message.startswith("gpu='X100'")
    assert "T4, L4, A10, A10G, A100, A100-40GB, A100-80GB, L40S, H100, H100!, H200, B200, any" in (
        message
    )
    suggestion = message.split("did you mean")[1]
    assert "'A100'" in suggestion and "'H100'" in suggestion


def test_unknown_type_in_a_list_names_its_position() -> None:
    with pytest.raises(InvalidError, match=r"gpu\[1\]='L40'.*did you mean 'L40S'"):
        parse_gpu(["H100", "L40"])


def test_bang_on_another_type_is_rejected_with_a_hint() -> None:
    with pytest.raises(InvalidError, match=r"gpu='A100!'.*A100-40GB"):
        parse_gpu("A100!")


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ("H100:9", "H100 allows 1 to 8"),
        ("A10:5", "A10 allows 1 to 4"),
        ("A10G:5", "A10G allows 1 to 4"),
        ("T4:0", "T4 allows 1 to 8"),
        ("any:9", "any allows 1 to 8"),
    ],
)
def test_count_out_of_range_names_the_allowed_range(spec: str, allowed: str) -> None:
    with pytest.raises(InvalidError) as info:
        parse_gpu(spec)
    assert str(info.value).startswith(f"gpu={spec!r}")
    assert allowed in str(info.value)


@pytest.mark.parametrize("spec", ["H100:", "H100:two", "H100:-1", "H100:1.5", "H100:2:2", "T4:²"])
def test_count_that_is_not_a_whole_number_is_rejected(spec: str) -> None:
    with pytest.raises(InvalidError, match=r"gpu=.*whole number"):
        parse_gpu(spec)


@pytest.mark.parametrize("spec", [3, 1.5, True, {"H100": 1}])
def test_value_of_the_wrong_type_names_the_expected_type(spec: object) -> None:
    with pytest.raises(InvalidError, match=r"gpu must be a str, a list of str or None"):
        parse_gpu(spec)  # type: ignore[arg-type]


def test_list_item_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"gpu\[0\] must be a str.*got int"):
        parse_gpu([8])  # type: ignore[list-item]


def test_empty_list_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"gpu=\[\]"):
        parse_gpu([])


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("a10g", "A10"),
        ("A10", "A10"),
        ("A100", "A100-40GB"),
        ("A100 80GB", "A100-80GB"),
        ("a100_40gb", "A100-40GB"),
        ("H100!", "H100"),
        ("h200", "H200"),
    ],
)
def test_canonical_gpu_name(name: str, canonical: str) -> None:
    assert canonical_gpu_name(name) == canonical


def test_canonical_gpu_name_rejects_unknown() -> None:
    with pytest.raises(InvalidError, match=r"did you mean 'B200'"):
        canonical_gpu_name("B20")


def test_aliases_resolve_to_their_type() -> None:
    for name, gpu_type in GPU_TYPES.items():
        assert gpu_type.name == name
        for alias in gpu_type.aliases:
            assert canonical_gpu_name(alias) == name
