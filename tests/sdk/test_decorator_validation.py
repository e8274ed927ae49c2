"""``@app.function()`` checks every argument when it decorates, naming what is wrong."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

import strato
from strato.exception import DeprecationError, InvalidError

app = strato.App("decorator-validation")


def _decorate(**options: Any) -> strato.Function:
    def fn() -> int:
        return 1

    return app.function(**options)(fn)


def _rejects(match: str, **options: Any) -> str:
    with pytest.raises(InvalidError, match=match) as info:
        _decorate(**options)
    return str(info.value)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"timeout": 0}, r"timeout.*between 1 and 86400.*got 0"),
        ({"timeout": 86401}, r"timeout.*between 1 and 86400.*got 86401"),
        ({"timeout": -1}, r"timeout.*between 1 and 86400"),
        ({"max_containers": -1}, r"max_containers.*between 1 and 10000.*got -1"),
        ({"max_containers": 0}, r"max_containers.*between 1 and 10000"),
        ({"min_containers": -1}, r"min_containers.*between 0 and 1000"),
        ({"scaledown_window": 1}, r"scaledown_window.*between 2 and 86400.*got 1"),
        ({"startup_timeout": 0}, r"startup_timeout.*between 1 and 86400"),
        ({"memory": -5}, r"memory.*more than 0.*MiB.*-5"),
        ({"memory": 0}, r"memory.*more than 0"),
        ({"cpu": 0}, r"cpu.*more than 0.*cores"),
        ({"cpu": 65}, r"cpu.*at most 64"),
        ({"cpu": (4, 2)}, r"cpu.*limit.*must be >= the request"),
    ],
)
def test_out_of_range_numbers_name_the_argument_and_the_range(options, pattern):
    _rejects(pattern, **options)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"cpu": "lots"}, r"cpu must be a number.*'lots'"),
        ({"memory": "8GiB"}, r"memory must be a number"),
        ({"retries": "3"}, r"retries must be an int or strato\.Retries, got str"),
        ({"retries": 2.5}, r"retries must be an int or strato\.Retries"),
        ({"schedule": "daily"}, r"schedule must be strato\.Cron or strato\.Period, got str"),
        ({"timeout": "60"}, r"timeout must be an int.*str"),
        ({"timeout": True}, r"timeout must be an int.*bool"),
        ({"max_containers": 2.0}, r"max_containers must be an int"),
        ({"serialized": "yes"}, r"serialized must be True or False"),
        ({"secrets": "my-secret"}, r"secrets must be a list"),
        ({"volumes": ["/data"]}, r"volumes must be a dict"),
        ({"name": 3}, r"name must be a str"),
    ],
)
def test_wrong_types_name_the_argument_and_what_it_takes(options, pattern):
    _rejects(pattern, **options)


def test_min_containers_above_max_containers_is_rejected():
    message = _rejects(r"min_containers", min_containers=3, max_containers=2)
    assert "max_containers" in message
    assert "3" in message and "2" in message


def test_unknown_keyword_suggests_the_nearest_valid_one():
    message = _rejects(r"max_contaners", max_contaners=2)
    assert "did you mean 'max_containers'" in message


def test_unknown_keyword_without_a_near_match_lists_the_valid_ones():
    message = _rejects(r"zzzqqq", zzzqqq=1)
    assert "timeout" in message and "max_containers" in message


def test_unknown_gpu_type_suggests_a_real_one():
    message = _rejects(r"gpu='X100'.*not a known GPU type", gpu="X100")
    assert "did you mean" in message
    assert "'H100'" in message


def test_too_many_gpus_per_container_names_the_allowed_count():
    _rejects(r"gpu='H100:9'.*1 to 8.*got 9", gpu="H100:9")


def test_unknown_region_lists_broad_names():
    message = _rejects(r"region='mars'.*not a known region", region="mars")
    assert "us-east" in message


def test_unknown_cloud_lists_the_known_clouds():
    message = _rejects(r"cloud='ibm'.*not a known cloud", cloud="ibm")
    for cloud in ("aws", "gcp", "azure"):
        assert cloud in message


@pytest.mark.parametrize("mount", ["relative/path", "data", "./vol"])
def test_volume_mount_paths_must_be_absolute(mount):
    _rejects(
        rf"volumes: mount paths must be absolute.*{re.escape(repr(mount))}",
        volumes={mount: object()},
    )


def test_the_decorated_function_is_not_registered_when_an_argument_is_bad():
    before = set(app.registered_functions)

    def never_registered() -> None:
        pass

    with pytest.raises(InvalidError):
        app.function(timeout=0)(never_registered)
    assert set(app.registered_functions) == before


def test_cls_rejects_function_only_arguments():
    with pytest.raises(InvalidError, match=r"@app\.cls\(\).*'schedule'"):

        @app.cls(schedule=strato.Period(hours=1))
        class Scheduled:
            @strato.method()
            def go(self) -> None:
                pass


def test_valid_placement_is_accepted_and_normalized():
    fn = _decorate(gpu=["H100", "A100-80GB:2"], region="us-east", cloud="aws")
    options = fn._options
    assert options["gpu"] == ["H100", "A100-80GB:2"]
    assert options["cloud"] == "aws"
    assert options["region"] == ["us-east"]
    assert options["regions_resolved"] and all(
        r.startswith("aws:us-east") for r in options["regions_resolved"]
    )


def test_gpu_names_are_case_insensitive():
    assert _decorate(gpu="h100")._options["gpu"] == ["H100"]


@pytest.mark.parametrize(
    "schedule",
    [strato.Cron("0 9 * * 4"), strato.Period(hours=4), strato.Cron("*/15 1-5 * * 0,6")],
)
def test_valid_schedules_are_accepted(schedule):
    fn = _decorate(schedule=schedule)
    assert fn._options["schedule"] == schedule.to_dict()


def test_retries_object_is_accepted():
    fn = _decorate(retries=strato.Retries(max_retries=3))
    assert fn._options["retries"]["max_retries"] == 3


def test_retries_int_means_fixed_one_second_backoff():
    fn = _decorate(retries=2)
    assert fn._options["retries"] == {
        "max_retries": 2,
        "backoff_coefficient": 1.0,
        "initial_delay": 1.0,
        "max_delay": 60.0,
    }


def test_boundary_values_are_accepted():
    fn = _decorate(
        timeout=86400, max_containers=1, min_containers=1, scaledown_window=2, cpu=0.25, memory=128
    )
    assert fn._options["timeout"] == 86400
    assert fn._options["max_containers"] == 1
    assert fn._options["scaledown_window"] == 2
    assert fn._options["cpu"] == 0.25
    assert fn._options["memory"] == 128


def test_retries_above_ten_are_rejected():
    with pytest.raises(InvalidError, match=r"max_retries.*between 0 and 10.*got 11"):
        strato.Retries(max_retries=11)


@pytest.mark.parametrize(
    ("expression", "field"),
    [("61 * * * *", "minute"), ("0 24 * * *", "hour"), ("0 0 32 * *", "day of month")],
)
def test_cron_fields_out_of_range_are_rejected(expression, field):
    with pytest.raises(InvalidError, match=rf"{field}"):
        strato.Cron(expression)


def test_cron_with_wrong_field_count_is_rejected():
    with pytest.raises(InvalidError, match=r"5 fields"):
        strato.Cron("0 9 * *")


def test_keep_warm_warns_deprecation_and_maps_to_min_containers():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn = _decorate(keep_warm=2)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationError)]
    assert len(deprecations) == 1
    assert "keep_warm" in str(deprecations[0].message)
    assert "min_containers" in str(deprecations[0].message)
    assert fn._options["min_containers"] == 2
    assert "keep_warm" not in fn._options


def test_keep_warm_and_min_containers_together_are_rejected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _rejects(r"keep_warm.*min_containers", keep_warm=1, min_containers=1)


def test_keep_warm_warning_points_at_the_decorated_code():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @app.function(keep_warm=1)
        def warm() -> None:
            pass

    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"gpu": "B200", "region": "eu"}, "B200 machines have 8 GPUs"),
        ({"gpu": "T4", "region": "jp", "cloud": "azure"}, "T4 is offered in azure:eastus"),
    ],
)
def test_a_combination_no_catalog_row_satisfies_is_rejected_at_decoration(kwargs, hint):
    app = strato.App("unsatisfiable")
    with pytest.raises(strato.exception.InvalidError, match=hint):
        app.function(**kwargs)(lambda: None)


def test_a_satisfiable_gpu_region_cloud_combination_is_accepted():
    app = strato.App("satisfiable")
    f = app.function(gpu=["H100", "A100-80GB"], cloud="auto")(lambda: None)
    assert f._options["gpu"] == ["H100", "A100-80GB"]
    assert f._options["cloud"] == "auto"
