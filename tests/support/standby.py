"""PostgreSQL servers made by tests: a streaming standby of the embedded server, a Citus worker.

As root the servers run as the system user ``pgserver`` (PostgreSQL refuses root; the embedded
server already runs as that user), so every command that touches a data directory runs as it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port

SERVER_USER = "pgserver"


def as_server_user(command: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL command as the user the servers run as; raises with its output on failure."""
    argv = list(command)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv = ["su", SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


@contextmanager
def server_directory(prefix: str) -> Iterator[Path]:
    """A scratch directory the server's user can reach and write."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir(mode=0o700)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        shutil.chown(data, SERVER_USER)
    try:
        yield data
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class LocalServer:
    """A PostgreSQL server on 127.0.0.1 started by a test."""

    bin_dir: Path
    data: Path
    port: int

    def start(self) -> None:
        as_server_user(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.data / "server.log"),
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def configure(self, *lines: str) -> None:
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.data}'",
            *lines,
        ]
        as_server_user(["sh", "-c", f"printf '%s\\n' {shlex.join(settings)} >> {self.data}/postgresql.conf"])


@contextmanager
def streaming_standby(bin_dir: Path, primary_socket_dir: str) -> Iterator[LocalServer]:
    """A hot standby of the server at ``primary_socket_dir``, made by its own ``pg_basebackup``."""
    with server_directory("reme-standby-") as data:
        as_server_user(
            [
                str(bin_dir / "pg_basebackup"),
                *("-h", primary_socket_dir, "-U", "postgres", "-D", str(data)),
                *("--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast"),
            ]
        )
        standby = LocalServer(bin_dir, data, free_port())
        standby.configure("hot_standby = on")
        standby.start()
        try:
            yield standby
        finally:
            standby.stop()
