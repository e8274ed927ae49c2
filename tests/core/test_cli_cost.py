"""``strato cost report`` through the real ``strato`` Typer app, and the cost line that ends
``strato run``, as a user types it in a shell."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from strato.cli.cost import read_containers, run_cost_line
from strato.cli.main import app
from strato.core.store import Store, make_engine, sqlite_url
from strato.exception import ConnectionError, NotFoundError

STRATO = os.path.join(os.path.dirname(sys.executable), "strato")
RATES_TOML = "[pricing.local]\ncpu_core_hour = 0.5\nmemory_gib_hour = 0.25\ngpu_hour = 4.0\n"
HOUR = 3600.0
runner = CliRunner()


def container(**values: Any) -> dict[str, Any]:
    row = {
        "id": "c",
        "function_id": "fu-1",
        "app_id": "ap-1",
        "app_name": "alpha",
        "function_name": "train",
        "provider": "local",
        "token_hash": "x",
        "state": "stopped",
        "region": None,
        "gpu": None,
        "gpu_count": 0,
        "cpu_request": 2.0,
        "memory_request_mib": 1024,
        "cpu_seconds": 1.0,
        "peak_memory_mib": 50.0,
        "usd_per_hour": 0.0,
        "multiplier": 1.0,
        "inputs_done": 1,
    }
    row.update(values)
    return row


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config dir with local rates, and a database holding three containers:
    alpha/train on local for an hour ($1.25), beta/serve on 2 AWS H100s for half an hour at
    $10/h x 1.25 ($6.25), and an alpha container of ten days ago ($1.00)."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text(RATES_TOML)
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(config))
    monkeypatch.setenv("STRATO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STRATO_SERVER_URL", raising=False)
    (tmp_path / "data").mkdir()
    store = Store(make_engine(sqlite_url(str(tmp_path / "data" / "strato.db"))))
    now = time.time()
    store.add_container(container(id="a1", started_at=now - 2 * HOUR, stopped_at=now - HOUR))
    store.add_container(
        container(
            id="b1",
            function_id="fu-2",
            app_id="ap-2",
            app_name="beta",
            function_name="serve",
            provider="aws",
            region="us-east-1",
            gpu="H100:2",
            gpu_count=2,
            usd_per_hour=10.0,
            multiplier=1.25,
            started_at=now - HOUR,
            stopped_at=now - HOUR / 2,
        )
    )
    store.add_container(
        container(
            id="old",
            provider="aws",
            usd_per_hour=1.0,
            started_at=now - 10 * 86400 - HOUR,
            stopped_at=now - 10 * 86400,
        )
    )
    store.engine.dispose()
    return tmp_path


def cost(*args: str) -> Any:
    return runner.invoke(app, ["cost", "report", *args])


def report_json(*args: str) -> dict[str, Any]:
    result = cost(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def costs(document: dict[str, Any]) -> dict[str, float]:
    return {row["key"]: round(row["cost_usd"], 6) for row in document["rows"]}


def test_table_lists_each_app_most_expensive_first_with_a_total(ledger: Path) -> None:
    result = cost()
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Cost since ") and lines[0].endswith("by app")
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]
    assert cells[0] == ["APP", "COST (USD)", "CONTAINERS", "CONTAINER-SECONDS", "GPU-SECONDS"]
    assert cells[2] == ["beta", "6.2500", "1", "1800.0", "3600.0"]
    assert cells[3] == ["alpha", "1.2500", "1", "3600.0", "0.0"]  # ten days ago is left out
    assert set(lines[-2].replace(" ", "")) == {"-"}
    assert cells[-1] == ["TOTAL", "7.5000", "2", "5400.0", "3600.0"]
    assert result.stderr == ""  # rates are set: no note


def test_since_all_counts_every_container(ledger: Path) -> None:
    document = report_json("--since", "all")
    assert costs(document) == {"beta": 6.25, "alpha": 2.25}
    assert document["since"] is None
    assert document["total"]["containers"] == 3


def test_since_an_iso_date_counts_from_that_day(ledger: Path) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 20 * 86400))
    assert report_json("--since", day)["total"]["cost_usd"] == pytest.approx(8.5)
    # half of alpha's hour is after since (the report's clock is a few ms later than ours)
    assert report_json("--since", "90m")["total"]["cost_usd"] == pytest.approx(
        6.25 + 1.25 / 2, abs=1e-3
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("app", {"beta": 6.25, "alpha": 1.25}),
        ("function", {"beta/serve": 6.25, "alpha/train": 1.25}),
        ("provider", {"aws": 6.25, "local": 1.25}),
        ("region", {"us-east-1": 6.25, "(none)": 1.25}),
        ("gpu", {"H100:2": 6.25, "(none)": 1.25}),
    ],
)
def test_every_by_groups_the_report(ledger: Path, by: str, expected: dict[str, float]) -> None:
    document = report_json("--by", by)
    assert document["by"] == by
    assert costs(document) == expected
    assert [row["key"] for row in document["rows"]] == list(expected)  # costliest first


def test_by_day_lists_utc_days_in_order_summing_to_the_total(ledger: Path) -> None:
    document = report_json("--by", "day", "--since", "all")
    keys = [row["key"] for row in document["rows"]]
    assert keys == sorted(keys) and len(keys) >= 2
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", key) for key in keys)
    assert sum(row["cost_usd"] for row in document["rows"]) == pytest.approx(8.5)
    assert document["total"] == {
        "cost_usd": pytest.approx(8.5),
        "container_seconds": pytest.approx(2 * HOUR + HOUR / 2),
        "containers": 3,
        "gpu_seconds": pytest.approx(HOUR),
    }


def test_csv_parses_with_the_dimension_as_first_column(ledger: Path) -> None:
    result = cost("--by", "provider", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["provider"] for r in rows] == ["aws", "local"]
    assert float(rows[0]["cost_usd"]) == pytest.approx(6.25)
    assert int(rows[0]["containers"]) == 1
    assert float(rows[0]["gpu_seconds"]) == pytest.approx(HOUR)
    assert float(rows[1]["container_seconds"]) == pytest.approx(HOUR)


@pytest.mark.parametrize(("by", "legend"), [("app", ["alpha", "beta"]), ("day", ["aws", "local"])])
def test_html_is_a_self_contained_page_with_a_stacked_chart(
    ledger: Path, by: str, legend: list[str]
) -> None:
    result = cost("--by", by, "--format", "html", "--since", "all")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<svg" in page
    assert "http" not in page and "<script" not in page and "<link" not in page
    assert "url(" not in page and "@import" not in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "Day (UTC)" in svg and "Spend per day (USD)" in svg  # axis titles
    for key in legend:
        assert f">{key}</text>" in svg  # legend entries
    bars = re.findall(r"<rect [^>]*><title>(\S+) (\S+): \$([\d.,]+)</title>", svg)
    assert sum(float(amount) for _day, _key, amount in bars) == pytest.approx(8.5, abs=1e-3)
    assert {key for _day, key, _amount in bars} == set(legend)
    assert "<td>beta</td>" in page or by == "day"
    assert "TOTAL" in page and "8.5000" in page


def test_output_writes_the_report_to_a_file(ledger: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = cost("--format", "json", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"Wrote json report to {target}" in result.stderr
    assert costs(json.loads(target.read_text())) == {"beta": 6.25, "alpha": 1.25}


def test_app_keeps_the_containers_of_that_app_by_name_or_id(ledger: Path) -> None:
    assert costs(report_json("--app", "alpha", "--since", "all")) == {"alpha": 2.25}
    assert costs(report_json("--app", "ap-2", "--by", "function")) == {"beta/serve": 6.25}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "color"], "choose one of: app, function, provider, region, gpu, day"),
        (["--format", "pdf"], "choose one of: table, csv, json, html"),
        (["--since", "last week"], "give a duration like 30m, 12h, 7d or 2w"),
        (["--app", "nobody"], "no app named or with id 'nobody'"),
        (["--output", "/nonexistent/dir/report.txt"], "cannot write /nonexistent/dir/report.txt"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    ledger: Path, args: list[str], message: str
) -> None:
    result = cost(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_local_containers_without_rates_cost_zero_with_a_note(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path / "no-rates"))
    document = report_json("--by", "provider")
    assert costs(document) == {"aws": 6.25, "local": 0.0}
    result = cost("--by", "provider")
    assert "local containers cost 0 unless [pricing.local] rates are set" in result.stderr


# -- against a control plane, over REST ---------------------------------------------------------


class FakeClient:
    """Answers ``GET /v1/containers`` like the control plane, and records the requests."""

    def __init__(self, rows: list[dict[str, Any]], now: float, fail: bool = False) -> None:
        self.rows, self.now, self.fail = rows, now, fail
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.requests.append((method, path, kwargs))
        if self.fail:
            raise ConnectionError("cannot reach the control plane")
        if path.startswith("/v1/apps/"):
            raise NotFoundError(f"no app named or with id {path.rsplit('/', 1)[1]!r}")
        return {"containers": self.rows, "now": self.now}


class FakeReader:
    remote = True

    def __init__(self, client: FakeClient) -> None:
        self._client = client

    def app(self, ref: str) -> dict[str, Any]:
        return dict(self._client.request("GET", f"/v1/apps/{ref}"))


def test_remote_report_asks_the_plane_since_when_and_uses_its_clock() -> None:
    rows = [container(id="a1", started_at=100.0, stopped_at=None)]
    client = FakeClient(rows, now=200.0)
    got, now = read_containers(FakeReader(client), "alpha", 50.0)
    assert (got, now) == (rows, 200.0)
    assert client.requests == [("GET", "/v1/containers", {"params": {"since": 50.0}})]
    with pytest.raises(NotFoundError):
        read_containers(FakeReader(client), "gamma", None)


def test_run_cost_line_totals_the_apps_containers(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "config.toml").write_text(RATES_TOML)
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    rows = [
        container(id="a1", started_at=0.0, stopped_at=HOUR),
        container(id="a2", started_at=0.0, stopped_at=HOUR / 2),
    ]
    client = FakeClient(rows, now=HOUR)
    assert run_cost_line(client, "ap-1") == (
        "strato: this run cost $1.8750 (2 containers, 5400.0 container-seconds)"
    )
    assert client.requests[0] == ("GET", "/v1/containers", {"params": {"app": "ap-1"}})
    running = FakeClient([container(id="a1", started_at=0.0, stopped_at=None)], now=HOUR)
    assert run_cost_line(running, "ap-1", detach=True) == (
        "strato: this run has cost so far $1.2500 (1 container, 3600.0 container-seconds)"
    )


def test_run_cost_line_notes_zero_local_rates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    client = FakeClient([container(id="a1", started_at=0.0, stopped_at=3.1)], now=10.0)
    assert run_cost_line(client, "ap-1") == (
        "strato: this run cost $0.0000 (1 container, 3.1 container-seconds; "
        "local containers cost 0 unless [pricing.local] rates are set)"
    )


def test_run_cost_line_is_silent_when_the_ledger_cannot_be_read() -> None:
    assert run_cost_line(FakeClient([], now=0.0, fail=True), "ap-1") is None
    assert run_cost_line(FakeClient([], now=0.0), None) is None


# -- a real run, then a report ------------------------------------------------------------------

APP_SOURCE = textwrap.dedent(
    """
    import strato

    app = strato.App("ledger-run-test")


    @app.function()
    def spin(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total


    @app.local_entrypoint()
    def main():
        print("RESULT", sum(spin.map([200_000] * 3)))
    """
)


def test_a_real_run_prints_its_cost_and_shows_up_in_the_report(tmp_path: Path) -> None:
    config, data = tmp_path / "config", tmp_path / "data"
    config.mkdir()
    # $36 per core-second: even a short run shows up in the cost line's four decimals
    (config / "config.toml").write_text(
        "[pricing.local]\ncpu_core_hour = 129600.0\nmemory_gib_hour = 360.0\n"
    )
    (tmp_path / "app.py").write_text(APP_SOURCE)
    env = {**os.environ, "STRATO_CONFIG_DIR": str(config), "STRATO_DATA_DIR": str(data)}
    env.pop("STRATO_SERVER_URL", None)
    env.pop("STRATO_TOKEN", None)

    def strato(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STRATO, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    run = strato("run", "app.py")
    assert run.returncode == 0, run.stderr
    assert "RESULT" in run.stdout
    line = re.search(
        r"^strato: this run cost \$([\d.]+) \((\d+) containers?, ([\d.]+) container-seconds\)$",
        run.stderr,
        re.MULTILINE,
    )
    assert line, run.stderr
    assert float(line.group(1)) > 0 and int(line.group(2)) >= 1 and float(line.group(3)) > 0

    report = strato("cost", "report", "--since", "1d", "--by", "function", "--format", "json")
    assert report.returncode == 0, report.stderr
    rows = {row["key"]: row for row in json.loads(report.stdout)["rows"]}
    assert list(rows) == ["ledger-run-test/spin"]
    assert rows["ledger-run-test/spin"]["cost_usd"] > 0
    assert rows["ledger-run-test/spin"]["containers"] == int(line.group(2))
    assert round(rows["ledger-run-test/spin"]["cost_usd"], 4) == pytest.approx(
        float(line.group(1)), abs=1e-4
    )
