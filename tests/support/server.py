"""Run the real app under uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from app.http_server import server_config
from app.main import create_app
from app.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_server(settings: Settings, *, timeout: float = 60.0) -> RunningServer:
    """Start the app; raises RuntimeError when its lifespan fails."""
    port = free_port()
    app = create_app(settings)
    app.state.listening = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(server_config(app, settings.server, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the app failed to start; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the app did not start in time")
        time.sleep(0.02)
    return RunningServer(server=server, thread=thread, base_url=f"http://127.0.0.1:{port}")
