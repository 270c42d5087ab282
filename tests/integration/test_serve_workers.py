"""``reme serve --workers N``: several processes answer on one port and all stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess

import httpx
import psutil

from tests.support.metrics import parse
from tests.support.processes import RemeProcesses, data_root, handle_pids, reme_processes, wait_until


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer_with_only(port: int, running: int, paused: list[int]) -> int:
    """Pause every worker but ``running``; a new connection can only be accepted by it."""
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}, timeout=30)
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    return response.status_code


def serving_workers(procs: RemeProcesses, proc: subprocess.Popen[str]) -> list[int]:
    """Wait until ``reme serve`` says its two workers serve; their pids."""

    def two_workers_ready() -> bool:
        if proc.poll() is not None:
            return True
        return "2 workers serving" in procs.log_of(proc)

    wait_until(two_workers_ready, 180, "two workers to serve")
    assert proc.poll() is None, procs.log_of(proc)
    workers = [
        child.pid
        for child in psutil.Process(proc.pid).children()
        if "multiprocessing" in " ".join(child.cmdline())
        and "resource_tracker" not in " ".join(child.cmdline())
    ]
    assert len(workers) == 2, psutil.Process(proc.pid).children()
    return workers


def test_two_workers_answer_on_one_port_and_stop_cleanly() -> None:
    with data_root() as root, reme_processes(root) as procs:
        port = free_port()
        proc = procs.start("serve", "--port", str(port), "--workers", "2", "-v")

        workers = serving_workers(procs, proc)
        # Each worker answers on the shared port, alone while the other is paused.
        first, second = workers
        assert answer_with_only(port, first, [second]) == 200
        assert answer_with_only(port, second, [first]) == 200
        # Both attached to the one embedded server the parent started (and migrated once).
        assert {proc.pid, first, second} <= set(handle_pids(procs.data_dir))
        # The migrations ran once, in the parent (-v shows Alembic's lines).
        assert procs.log_of(proc).count("Running upgrade  -> 0001") == 1, procs.log_of(proc)

        assert procs.terminate(proc, signal.SIGTERM) in (0, -signal.SIGTERM)
        log = procs.log_of(proc)
        assert log.count("INFO app.main [-] stopped") == 2, log
        assert "Traceback" not in log, log
        wait_until(lambda: not any(psutil.pid_exists(pid) for pid in workers), 30, "the workers to end")
        assert not set(workers) & set(handle_pids(procs.data_dir))


def test_metrics_of_every_worker_add_up_whichever_one_answers_the_scrape() -> None:
    with data_root() as root, reme_processes(root) as procs:
        port = free_port()
        # The worker count from the setting alone, not the option: metrics must still be shared.
        procs.env["REME_SERVER__WORKERS"] = "2"
        proc = procs.start("serve", "--port", str(port))
        first, second = serving_workers(procs, proc)

        # Three requests answered by the first worker alone, two by the second alone
        for _ in range(3):
            assert answer_with_only(port, first, [second]) == 200
        for _ in range(2):
            assert answer_with_only(port, second, [first]) == 200

        # Then either worker's /metrics counts all five
        for scraper, paused in ((first, second), (second, first)):
            os.kill(paused, signal.SIGSTOP)
            try:
                text = httpx.get(
                    f"http://127.0.0.1:{port}/metrics", headers={"Connection": "close"}, timeout=30
                ).text
            finally:
                os.kill(paused, signal.SIGCONT)
            samples = parse(text)
            assert samples.value("reme_http_requests_total", route="/health", status="200") == 5, scraper
        assert procs.terminate(proc, signal.SIGTERM) in (0, -signal.SIGTERM)
