"""Starting the things a benchmark measures, on loopback, and summarising what it measured.

- the stand-in model server (``benchmarks.embed_server``), shared by both sides;
- this service: ``python -m app.cli serve`` on a fresh embedded database in a temporary directory;
- the peer: ReMe 0.1.7 (``reme backend=http ... vector_store.default.backend=local``) in its venv.

Every process writes its log to the work directory; ``Bench`` stops them all on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.peer import default_venv, ensure_peer

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_DIM = 384
MODEL = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (graceful: uvicorn drains, the embedded server stops), then SIGKILL.

        Only this process, by its pid. (Not SIGINT: a shell's background jobs ignore it.)
        """
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                return
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path) -> Process:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    return Process(name, popen, log_path)


def wait_http(url: str, process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited early:\n{process.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{process.name} not ready at {url} after {timeout:.0f}s:\n{process.log_tail()}")


def clean_env() -> dict[str, str]:
    """The environment without any REME_/FLOW_ setting of the caller's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("REME_", "FLOW_"))}


@dataclass
class StandIn:
    process: Process
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json())

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/stats/reset", timeout=5)


def start_stand_in(workdir: Path, dim: int) -> StandIn:
    argv = [sys.executable, "-m", "benchmarks.embed_server", "--port", "0", "--dim", str(dim)]
    env = clean_env()
    env["PYTHONPATH"] = str(REPO)
    popen = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert popen.stdout is not None
    line = popen.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        popen.kill()
        raise RuntimeError(f"stand-in did not start: {line!r}")
    return StandIn(Process("stand-in", popen, workdir / "stand-in.log"), int(line.split()[1]))


@dataclass
class Service:
    """This project's service, on its own embedded PostgreSQL."""

    process: Process
    port: int
    data_dir: Path
    env: dict[str, str]
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dsn(self) -> dict[str, Any]:
        """asyncpg connection arguments for the embedded server (read from postmaster.pid)."""
        lines = (self.data_dir / "pg" / "postmaster.pid").read_text().splitlines()
        return {"host": lines[4], "port": int(lines[3]), "user": "postgres", "database": "reme"}

    def cli(self, *args: str, log_name: str = "cli") -> subprocess.CompletedProcess[bytes]:
        """Run ``reme ARGS`` against the same database (it attaches to the running server)."""
        argv = [sys.executable, "-m", "app.cli", *args]
        with (self.workdir / f"{log_name}.log").open("ab") as log:
            return subprocess.run(argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)

    def routes(self) -> set[str]:
        schema = httpx.get(f"{self.base_url}/schema/openapi.json", timeout=30).json()
        return set(schema.get("paths", {}))


def service_env(
    workdir: Path, stand_in: StandIn, dim: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = clean_env()
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "REME_DATA_DIR": str(workdir / "ours-data"),
            "REME_EMBEDDING__PROVIDER": "openai",
            "REME_EMBEDDING__BASE_URL": stand_in.base_url,
            "REME_EMBEDDING__API_KEY": "bench",
            "REME_EMBEDDING__MODEL": MODEL,
            "REME_EMBEDDING__DIM": str(dim),
            "REME_LLM__BASE_URL": stand_in.base_url,
            "REME_LLM__API_KEY": "bench",
            "REME_LLM__MODEL": MODEL,
            "REME_STORAGE__ALLOWED_DIR": str(workdir),
            "REME_LOG_LEVEL": "WARNING",
            # Routes measured one after the other ask the same queries: the query-embedding
            # cache would serve the later ones and leave the embedding call out of their time.
            "REME_EMBEDDING__QUERY_CACHE_SIZE": "0",
        }
    )
    env.update(extra or {})
    return env


def start_service(
    workdir: Path, stand_in: StandIn, dim: int, extra_env: dict[str, str] | None = None
) -> Service:
    port = free_port()
    env = service_env(workdir, stand_in, dim, extra_env)
    argv = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process = spawn("ours", argv, env=env, cwd=workdir, log_dir=workdir)
    service = Service(process, port, workdir / "ours-data", env, workdir)
    wait_http(f"{service.base_url}/health", process, timeout=180)
    return service


@dataclass
class Peer:
    """ReMe 0.1.7 with its file-backed ``local`` vector store."""

    process: Process
    port: int
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_peer(workdir: Path, stand_in: StandIn, dim: int, venv_dir: Path | None = None) -> Peer:
    binary = ensure_peer(venv_dir)
    peer_dir = workdir / "peer"
    peer_dir.mkdir(exist_ok=True)
    port = free_port()
    env = clean_env()
    env.update(
        {
            "FLOW_EMBEDDING_BASE_URL": stand_in.base_url,
            "FLOW_EMBEDDING_API_KEY": "bench",
            "FLOW_LLM_BASE_URL": stand_in.base_url,
            "FLOW_LLM_API_KEY": "bench",
        }
    )
    argv = [
        str(binary),
        "backend=http",
        "http.host=127.0.0.1",
        f"http.port={port}",
        "vector_store.default.backend=local",
        f"embedding_model.default.model_name={MODEL}",
        f"embedding_model.default.params.dimensions={dim}",
        f"llm.default.model_name={MODEL}",
    ]
    process = spawn("peer", argv, env=env, cwd=peer_dir, log_dir=workdir)
    peer = Peer(process, port, peer_dir)
    wait_http(f"{peer.base_url}/health", process, timeout=180)
    return peer


@dataclass
class Bench:
    """What one benchmark run needs; use as a context manager (everything stops at exit)."""

    dim: int = DEFAULT_DIM
    with_peer: bool = True
    peer_venv: Path | None = None
    workdir: Path | None = None
    keep: bool = False
    service_env: dict[str, str] = field(default_factory=dict)
    stand_in: StandIn | None = None
    ours: Service | None = None
    peer: Peer | None = None

    def __enter__(self) -> Bench:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="reme-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.stand_in = start_stand_in(self.workdir, self.dim)
            log(f"stand-in on {self.stand_in.base_url}; work dir {self.workdir}")
            self.ours = start_service(self.workdir, self.stand_in, self.dim, self.service_env)
            log(f"ours on {self.ours.base_url}")
            if self.with_peer:
                self.peer = start_peer(self.workdir, self.stand_in, self.dim, self.peer_venv)
                log(f"peer (ReMe 0.1.7) on {self.peer.base_url}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in (self.peer, self.ours, self.stand_in):
            if handle is not None:
                handle.process.stop()
        if self.workdir is not None and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def files_dir(self) -> Path:
        assert self.workdir is not None
        path = self.workdir / "files"
        path.mkdir(exist_ok=True)
        return path


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dim", type=int, default=DEFAULT_DIM, help="embedding dimension (both sides)")
    parser.add_argument("--no-peer", action="store_true", help="do not start ReMe")
    parser.add_argument("--peer-venv", type=Path, default=None, help=f"ReMe venv (default {default_venv()})")
    parser.add_argument("--workdir", type=Path, default=None, help="work directory (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory at the end")
    parser.add_argument("--quick", action="store_true", help="small sizes and few requests (smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")


def bench_from_args(args: argparse.Namespace) -> Bench:
    return Bench(
        dim=args.dim,
        with_peer=not args.no_peer,
        peer_venv=args.peer_venv,
        workdir=args.workdir,
        keep=args.keep,
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Summaries


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Percentiles in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def write_results(name: str, results: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str) + "\n")
    tmp.replace(path)
    log(f"wrote {path}")
    return path


def ratio(slow: float | None, fast: float | None) -> float | None:
    if not slow or not fast:
        return None
    return round(slow / fast, 1)
