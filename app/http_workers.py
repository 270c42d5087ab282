"""``reme serve --workers N``: several server processes answering on one port.

The parent process prepares the database once (starts the embedded PostgreSQL, checks the
embedding space, runs the migrations), binds the listening socket, and starts N children with
Python's ``spawn``. Each child is a whole service (its own event loop, connection pool and
embedder) running uvicorn on the inherited socket, with migrations off; the kernel hands each
new connection to one of them. The embedded server is shared: every child attaches to the one
the parent started (the handle list keeps it running while any of them lives).

SIGTERM or SIGINT to the parent is passed on to every child as SIGTERM; each finishes its
requests and logs ``stopped``; the parent then detaches from the database and returns. The
children run in their own process group (a Ctrl-C in the terminal reaches the parent only, so
that a child never gets two signals and skips its clean shutdown) and end themselves when
their parent is gone. A child that dies while serving is replaced; one that fails to start
stops the whole service.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn

from app.settings import Settings

log = logging.getLogger(__name__)

# Seconds the parent waits for a child to stop after SIGTERM before killing it.
STOP_GRACE = 30.0
# Seconds between two looks of the parent at its children (and of a child at its parent).
SUPERVISE_INTERVAL = 0.5
# A child replaced this many times within a minute means something is wrong: stop.
MAX_RESTARTS_PER_MINUTE = 5


def resolve_workers(value: int | str | None) -> int:
    """A worker count: a positive number, or ``auto`` for the machine's cores."""
    if value is None:
        return 1
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return os.cpu_count() or 1
        value = int(value)
    if value < 1:
        raise ValueError("the number of workers must be at least 1 (or auto)")
    return value


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket every child accepts on (bound before any child starts)."""
    config = uvicorn.Config(app="app.main:create_app", host=host, port=port, log_config=None)
    # Nothing else is set on the listening socket: uvicorn sets TCP_NODELAY on each accepted
    # connection itself, and an option set here would be shared by every child.
    return config.bind_socket()


class ReadyServer(uvicorn.Server):
    """uvicorn's server that tells the parent (one byte on a pipe) when it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.send_bytes(b"1")
        self.ready.close()


def watch_parent(parent: int) -> None:
    """End this child (as a SIGTERM would) once its parent is gone, e.g. killed with -9."""
    while True:
        time.sleep(SUPERVISE_INTERVAL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def child_main(
    settings: Settings, sock: socket.socket, ready: Connection, log_level: str, verbose: bool
) -> None:
    """One server process (the target of each spawned child)."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C goes to the parent, which stops the children once
    from app.db import set_process_role
    from app.http_server import server_config
    from app.logging import configure_logging
    from app.main import create_app

    configure_logging(log_level, verbose=verbose)
    set_process_role("serve")
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    host, port = sock.getsockname()[:2]
    app = create_app(settings)
    app.state.listening = f"http://{settings.server.host}:{port} (worker pid {os.getpid()})"
    server = ReadyServer(server_config(app, settings.server, host=host, port=port), ready)
    server.run(sockets=[sock])  # exits with uvicorn's code 3 when the start-up fails


class Supervisor:
    """Starts the children, replaces one that dies, and stops them all on a signal."""

    def __init__(
        self, settings: Settings, sock: socket.socket, count: int, log_level: str, verbose: bool
    ) -> None:
        self.settings = settings
        self.sock = sock
        self.count = count
        self.log_level = log_level
        self.verbose = verbose
        self.context = multiprocessing.get_context("spawn")
        self.children: list[Child] = []
        self.stopping = False
        self.restarts: list[float] = []

    def spawn(self) -> Child:
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=child_main,
            args=(self.settings, self.sock, sender, self.log_level, self.verbose),
            name="reme-serve-worker",
        )
        process.start()
        sender.close()  # the child's end; the parent keeps the other
        return Child(process, receiver)

    def on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Serve until a signal; the exit code of the whole service."""
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.children = [self.spawn() for _ in range(self.count)]
            code = self.supervise()
        finally:
            self.stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def supervise(self) -> int:
        announced = False
        while not self.stopping:
            time.sleep(SUPERVISE_INTERVAL)
            if not announced and all(child.is_ready() for child in self.children):
                pids = ", ".join(str(child.process.pid) for child in self.children)
                log.info("%d workers serving (pids %s)", self.count, pids)
                announced = True
            for index, child in enumerate(self.children):
                if child.process.is_alive() or self.stopping:
                    continue
                pid, code = child.process.pid, child.process.exitcode
                if not child.is_ready():
                    log.error("worker pid %s failed to start (exit code %s): stopping", pid, code)
                    return code if isinstance(code, int) and code > 0 else 1
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < 60] + [now]
                if len(self.restarts) > MAX_RESTARTS_PER_MINUTE:
                    log.error("workers keep dying (%d in a minute): stopping", len(self.restarts))
                    return 1
                log.warning("worker pid %s exited (code %s) while serving: starting another", pid, code)
                child.close()
                self.children[index] = self.spawn()
        return 0

    def stop_children(self) -> None:
        for child in self.children:
            if child.process.is_alive() and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in self.children:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                log.warning(
                    "worker pid %s did not stop within %.0f s: killing it", child.process.pid, STOP_GRACE
                )
                child.process.kill()
                child.process.join(5)
            child.close()


class Child:
    """One server process and the pipe on which it says it is ready."""

    def __init__(self, process: SpawnProcess, ready: Connection) -> None:
        self.process = process
        self.ready = ready
        self.started = False

    def is_ready(self) -> bool:
        if not self.started and not self.ready.closed:
            try:
                if self.ready.poll():
                    self.started = self.ready.recv_bytes() == b"1"
            except (EOFError, OSError):
                self.ready.close()  # the child ended before it was ready
        return self.started

    def close(self) -> None:
        if not self.ready.closed:
            self.ready.close()


def serve_workers(settings: Settings, count: int, log_level: str, verbose: bool) -> int:
    """Prepare the database once, then run ``count`` server processes on one socket."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from app.commands import exit_code_for
    from app.db import Database, describe_database
    from app.errors import SchemaMismatch

    db = Database(settings)

    async def prepare() -> None:
        await db.start()
        try:
            await db.prepare()
        finally:
            if db.engine is not None:  # the children open their own pools
                await db.engine.dispose()
                db.engine = None

    async def detach() -> None:
        await db.stop()

    try:
        try:
            asyncio.run(prepare())
        except SchemaMismatch as exc:
            log.error("refusing to start: %s", exc.message)
            return exit_code_for(exc) or 1
        except (ConnectionError, OperationalError, InterfaceError) as exc:
            log.error("cannot reach the database %s: %s", describe_database(settings), exc)
            return exit_code_for(exc) or 1
        sock = bind_socket(settings.server.host, settings.server.port)
        try:
            children = settings.model_copy(update={"migrate_on_start": False})
            return Supervisor(children, sock, count, log_level, verbose).run()
        finally:
            sock.close()
    finally:
        asyncio.run(detach())
