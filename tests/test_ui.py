"""The Dagster UI as an operator uses it: `dagster dev`, its GraphQL API, and the page itself.

One `dagster dev` (webserver + daemon) runs for the module, on a free port, with DAGSTER_HOME
holding a copy of the repo's dagster.yaml and the data, warehouse and outputs in a temp copy,
so nothing under the repo's data/ is written. The page is opened in Debian's Chromium
(/usr/bin/chromium) through Playwright; Playwright never downloads a browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from pipelines.definitions import defs
from pipelines.profiles import PROJECT_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
JOB_NAME = "ingest_and_validate"
STARTUP_SECONDS = 120
RUN_SECONDS = 300
TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class DagsterDev:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    home: Path
    warehouse: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_interrupt() -> None:
    """`dagster dev` maps SIGTERM to its SIGINT handler; a shell that started pytest in the
    background leaves SIGINT ignored, and then SIGTERM would be ignored too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the whole process group (webserver, daemon, code servers, runs), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers, whether or not the leader exited
    if process.poll() is None:
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    root = tmp_path_factory.mktemp("dagster_dev")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    data_dir = root / "data"
    for shipped in ("sources", "templates"):
        if (PROJECT_ROOT / "data" / shipped).is_dir():
            shutil.copytree(PROJECT_ROOT / "data" / shipped, data_dir / shipped)
    warehouse = data_dir / "warehouse" / "early_warning.duckdb"
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EARLY_WARNING_PROFILE": "local",
        "EARLY_WARNING_DATA_DIR": str(data_dir),
        "EARLY_WARNING_WAREHOUSE": str(warehouse),
        "EARLY_WARNING_OUTPUT_DIR": str(data_dir / "output"),
    }
    log = root / "dagster_dev.log"
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "-m", "pipelines.definitions", "-h", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the finally can end all of it
            preexec_fn=_default_interrupt,
        )
    server = DagsterDev(f"http://127.0.0.1:{port}", process, log, home, warehouse)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /server_info after {STARTUP_SECONDS} s:\n{server.log_tail()}")
            time.sleep(1)
        yield server
    finally:
        _stop(process)


REPOSITORY_QUERY = """
query Repository {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name pipelineName }
        sensors { name }
        partitionSets { name pipelineName }
        assetNodes {
          assetKey { path }
          partitionDefinition { description }
          assetChecksOrError {
            __typename
            ... on AssetChecks { checks { name } }
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


def _repository(server: DagsterDev) -> dict[str, Any]:
    result = server.graphql(REPOSITORY_QUERY)["repositoriesOrError"]
    assert result["__typename"] == "RepositoryConnection", result
    nodes = result["nodes"]
    assert len(nodes) == 1, [node["name"] for node in nodes]
    return nodes[0]


def test_every_definition_is_served(dagster_dev: DagsterDev) -> None:
    repo = _repository(dagster_dev)
    graph = defs.resolve_asset_graph()
    repo_def = defs.get_repository_def()

    served_assets = {dg.AssetKey(node["assetKey"]["path"]): node for node in repo["assetNodes"]}
    expected_assets = set(graph.get_all_asset_keys())
    assert expected_assets, "the definitions define no assets"
    assert set(served_assets) == expected_assets

    served_checks = set()
    for key, node in served_assets.items():
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", checks
        served_checks |= {dg.AssetCheckKey(key, check["name"]) for check in checks["checks"]}
    assert served_checks == set(graph.asset_check_keys)

    for key in expected_assets:
        partitioned = graph.get(key).partitions_def is not None
        assert (served_assets[key]["partitionDefinition"] is not None) == partitioned, key

    served_jobs = {job["name"] for job in repo["jobs"]}
    assert JOB_NAME in served_jobs
    assert {job.name for job in repo_def.get_all_jobs()} <= served_jobs

    served_schedules = {s["name"]: s["pipelineName"] for s in repo["schedules"]}
    for schedule in repo_def.schedule_defs:
        assert served_schedules.get(schedule.name) == schedule.job_name, schedule.name
    served_sensors = {s["name"] for s in repo["sensors"]}
    assert {sensor.name for sensor in repo_def.sensor_defs} <= served_sensors

    # A job over partitioned assets is offered for backfills as a partition set.
    partitioned_jobs = {job.name for job in repo_def.get_all_jobs() if job.partitions_def}
    assert partitioned_jobs <= {p["pipelineName"] for p in repo["partitionSets"]}


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      eventConnection(limit: 1000) { events { __typename } }
    }
  }
}
"""

LATEST_MATERIALISATIONS = """
query Latest {
  assetNodes(loadMaterializations: true) {
    assetKey { path }
    jobNames
    assetMaterializations(limit: 1) { runId }
  }
}
"""


def test_launch_the_ingest_job_through_the_queue(dagster_dev: DagsterDev) -> None:
    repo = _repository(dagster_dev)
    params = {
        "selector": {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "jobName": JOB_NAME,
        },
        "executionMetadata": {"tags": [{"key": "launched_by", "value": "tests/test_ui.py"}]},
    }
    launched = dagster_dev.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + RUN_SECONDS
    seen: list[str] = []
    while True:
        run = dagster_dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        if not seen or seen[-1] != run["status"]:
            seen.append(run["status"])
        if run["status"] in TERMINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {run['status']} after {RUN_SECONDS} s: {seen}")
        time.sleep(1)
    assert run["status"] == "SUCCESS", f"{seen}\n{dagster_dev.log_tail()}"

    events = {event["__typename"] for event in run["eventConnection"]["events"]}
    # The queued run coordinator at work: the run was enqueued, then the daemon launched it.
    queued_path = {"RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent", "RunSuccessEvent"}
    assert queued_path <= events, sorted(events)
    assert "ExecutionStepFailureEvent" not in events

    job_assets = set(defs.resolve_job_def(JOB_NAME).asset_layer.selected_asset_keys)
    latest = {
        dg.AssetKey(node["assetKey"]["path"]): node["assetMaterializations"]
        for node in dagster_dev.graphql(LATEST_MATERIALISATIONS)["assetNodes"]
    }
    for key in job_assets:
        assert latest[key] and latest[key][0]["runId"] == run_id, key

    # The run wrote the temp warehouse given to `dagster dev`, not the repo's data/.
    with duckdb.connect(str(dagster_dev.warehouse), read_only=True) as connection:
        rows = connection.execute("SELECT run_id FROM raw.loads").fetchall()
    loaded_by = {row[0] for row in rows}
    assert loaded_by == {run_id}


def _dismiss_community_prompt(page: Any) -> None:
    """A fresh instance greets the first visitor with a newsletter prompt over the page."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
    except PlaywrightTimeoutError:
        return
    skip.click()


def test_asset_graph_renders_in_chromium(dagster_dev: DagsterDev, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    location = _repository(dagster_dev)["location"]["name"]
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.path[-1])
    # The largest group (then by name), drawn node by node on its own lineage page.
    group, names = max(groups.items(), key=lambda item: (len(item[1]), item[0]))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            # The global lineage: every group of the code location, collapsed.
            page.goto(f"{dagster_dev.url}/asset-groups", wait_until="domcontentloaded")
            _dismiss_community_prompt(page)
            page.get_by_text("Global asset lineage").first.wait_for(timeout=60_000)
            for name in groups:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "global-lineage.png"))

            page.goto(
                f"{dagster_dev.url}/locations/{location}/asset-groups/{group}",
                wait_until="domcontentloaded",
            )
            _dismiss_community_prompt(page)
            # Nodes are drawn once the layout is computed: wait for the first one to appear.
            page.locator(":text-matches('^(" + "|".join(sorted(names)) + ")$')").first.wait_for(
                timeout=60_000
            )
            page.wait_for_load_state("networkidle")
            shown = sorted(name for name in names if page.get_by_text(name, exact=True).count())
            page.screenshot(path=str(tmp_path / "asset-graph.png"))
        finally:
            browser.close()
    assert len(shown) >= min(3, len(names)), f"{group}: asset names on the page: {shown}"
    for picture in ("global-lineage.png", "asset-graph.png"):
        assert (tmp_path / picture).stat().st_size > 10_000, picture
