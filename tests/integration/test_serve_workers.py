"""``reme serve --workers N``: several processes answer on one port and all stop on SIGTERM."""

from __future__ import annotations

import os
import signal

import httpx
import psutil

from tests.support.processes import data_root, handle_pids, reme_processes, wait_until


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


def test_two_workers_answer_on_one_port_and_stop_cleanly() -> None:
    with data_root() as root, reme_processes(root) as procs:
        port = free_port()
        proc = procs.start("serve", "--port", str(port), "--workers", "2", "-v")
        parent = psutil.Process(proc.pid)

        def two_workers_ready() -> bool:
            if proc.poll() is not None:
                return True
            return "2 workers serving" in procs.log_of(proc)

        wait_until(two_workers_ready, 180, "two workers to serve")
        assert proc.poll() is None, procs.log_of(proc)
        workers = [
            child.pid
            for child in parent.children()
            if "multiprocessing" in " ".join(child.cmdline())
            and "resource_tracker" not in " ".join(child.cmdline())
        ]
        assert len(workers) == 2, parent.children()

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
