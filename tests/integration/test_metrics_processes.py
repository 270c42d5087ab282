"""Metrics across processes: several servers sharing PROMETHEUS_MULTIPROC_DIR answer the sum of
all of them; ``reme worker --metrics-port`` serves the worker's own metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.task_support import responder, trajectory
from tests.support.metrics import parse
from tests.support.processes import RemeProcesses, status_of, wait_until
from tests.support.server import RunningServer, free_port
from tests.support.standin import StandInOpenAI


def service_env(database_url: str, standin: StandInOpenAI, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REME_", "FLOW_", "PROMETHEUS_"))}
    env.update(
        {
            "REME_DATABASE_URL": database_url,
            "REME_EMBEDDING__PROVIDER": "local",
            "REME_LLM__BASE_URL": standin.base_url,
            "REME_LLM__API_KEY": "x",
            "REME_LLM__MODEL": "stand-in",
            "REME_LLM__MAX_RETRIES": "0",
            "REME_LOG_LEVEL": "INFO",
            **extra,
        }
    )
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        RemeProcesses.terminate(proc)


def start(
    started: list[subprocess.Popen[str]], log: Path, env: dict[str, str], *args: str
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(proc)
    return proc


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def test_two_servers_sharing_a_metrics_directory_report_their_sum(
    app_server: RunningServer,
    database_url: str,
    standin: StandInOpenAI,
    processes: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = service_env(database_url, standin, PROMETHEUS_MULTIPROC_DIR=str(shared), REME_LOG__FORMAT="json")
    ports = [free_port(), free_port()]
    servers = [
        start(processes, tmp_path / f"serve-{port}.log", env, "serve", "--port", str(port)) for port in ports
    ]
    for proc, port in zip(servers, ports, strict=True):
        wait_until(
            lambda proc=proc, port=port: (
                proc.poll() is not None or status_of(f"http://127.0.0.1:{port}/ready") == 200
            ),
            120,
            "reme serve to be ready",
        )
        assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()

    for _ in range(3):
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/health").status_code == 200
    for _ in range(2):
        assert httpx.get(f"http://127.0.0.1:{ports[1]}/health").status_code == 200

    for port in ports:
        samples = parse(scrape(f"http://127.0.0.1:{port}/metrics"))
        assert samples.value("reme_http_requests_total", route="/health", status="200") == 5
        assert "reme_db_pool_connections_in_use" in {name for name, _, _ in samples.rows}
    log = (tmp_path / f"serve-{ports[0]}.log").read_text()
    access = [json.loads(line) for line in log.splitlines() if '"logger": "reme.access"' in line]
    assert [entry["status"] for entry in access if entry["path"] == "/health"] == [200, 200, 200]


async def test_a_worker_serves_its_job_metrics_on_its_own_port(
    client: httpx.AsyncClient,
    database_url: str,
    standin: StandInOpenAI,
    processes: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    standin.responder = responder()
    flow = "summary_task_memory_simple"
    accepted = await client.post(
        f"/{flow}", json={"workspace_id": "wm", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]}
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["metadata"]["job_id"]
    port = free_port()
    log = tmp_path / "worker.log"

    worker = start(
        processes,
        log,
        service_env(database_url, standin),
        "worker",
        "--poll",
        "0.2",
        "--metrics-port",
        str(port),
    )

    def job_done() -> bool:
        assert worker.poll() is None, log.read_text()
        return bool(httpx.get(f"{client.base_url}/v1/jobs/{job_id}").json()["status"] == "done")

    wait_until(job_done, 120, "the worker to finish the job")
    samples = parse(scrape(f"http://127.0.0.1:{port}/metrics"))
    assert samples.value("reme_jobs_total", flow=flow, outcome="done") == 1
    assert samples.value("reme_job_duration_seconds_count", flow=flow) == 1
    assert samples.value("reme_llm_calls_total", model="stand-in") >= 1


def test_several_server_processes_get_a_shared_metrics_directory_of_their_own() -> None:
    code = "\n".join(
        [
            "import os",
            "from app.observability.metrics import use_multiprocess_dir",
            "path = use_multiprocess_dir()",
            "print(path, os.path.isdir(path), os.environ['PROMETHEUS_MULTIPROC_DIR'] == path)",
        ]
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    path, is_dir, exported = result.stdout.split()
    assert (is_dir, exported) == ("True", "True"), result.stderr
    assert Path(path).parent == Path(tempfile.gettempdir())
    assert not Path(path).exists()  # removed when the process exited
