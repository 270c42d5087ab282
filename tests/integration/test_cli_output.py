"""What the command line says: where things are, nothing noisy, refusals as one line and an exit code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from app.db import describe_database, head_revision
from app.settings import EmbeddingSettings, Settings
from tests.support.fixtures import BFCL
from tests.support.server import RunningServer, free_port

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REME_LLM__", "FLOW_LLM_", "REME_LOG_LEVEL", "REME_SERVER__"))
    }
    return {**env, "REME_DATABASE_URL": database_url, "REME_EMBEDDING__PROVIDER": "local", **extra}


def reme(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=cli_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def with_password(url: str, password: str) -> str:
    # The embedded test server trusts local connections, so any password is accepted.
    return url.replace("://postgres@", f"://postgres:{password}@", 1)


def test_serve_logs_one_line_with_url_database_models_and_stops_cleanly(
    make_database: Callable[[str], str],
) -> None:
    url = with_password(make_database("reme_serve_line"), "hunter2")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=cli_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "reme serve exited before it was ready"
            assert time.monotonic() < deadline, "reme serve was not ready in time"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)

    # uvicorn shuts down gracefully, then ends with the signal it was stopped by.
    assert process.returncode in (0, -signal.SIGTERM), err
    assert err.rstrip().endswith("INFO app.main [-] stopped"), err
    [line] = [line for line in err.splitlines() if "serving on" in line]
    assert f"serving on http://127.0.0.1:{port};" in line
    assert "database: postgresql://postgres@/reme_serve_line?host=/" in line
    assert "embeddings: all-MiniLM-L6-v2-int8 (384 dims)" in line
    assert "chat model: none: summary flows answer 503" in line
    assert "hunter2" not in err
    assert "alembic" not in err  # the migrations ran (a fresh database), quietly


async def test_status_prints_where_things_are_and_counts_per_workspace(
    client: httpx.AsyncClient, app_server: RunningServer, settings: Settings, database_url: str
) -> None:
    loaded = await client.post("/v1/library/appworld/load")
    assert loaded.status_code == 200, loaded.text
    await client.post("/v1/workspaces", json={"id": "empty"})
    port = app_server.base_url.rsplit(":", 1)[1]

    result = reme(database_url, "status", REME_SERVER__PORT=port)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "database:    postgresql://postgres@/" in out
    head = head_revision(settings)
    assert f"schema:      revision {head} (head {head}, up to date)" in out
    assert "embeddings:  all-MiniLM-L6-v2-int8 (384 dims, local)" in out
    assert "the database holds all-MiniLM-L6-v2-int8 (384 dims): matches the settings" in out
    assert "chat model:  none: summary flows answer 503" in out
    assert f"service:     http://127.0.0.1:{port} (answering /ready)" in out
    assert "workspaces:  2 (193 memories)" in out
    assert re.search(r"^  appworld +193 memories \(task 193\)$", out, re.MULTILINE), out
    assert re.search(r"^  empty +0 memories$", out, re.MULTILINE), out


def test_status_of_a_database_without_schema_says_so_and_changes_nothing(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("reme_status_empty")

    result = reme(url, "status")

    assert result.returncode == 0, result.stderr
    assert "schema:      none yet" in result.stdout
    assert "workspaces:  0 (0 memories)" in result.stdout
    again = reme(url, "db", "current")
    assert "current: none" in again.stdout


def test_commands_that_open_the_database_name_it_on_stderr(database_url: str) -> None:
    result = reme(database_url, "keys", "list")

    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("reme: database: postgresql://postgres@/")


def test_migrations_are_quiet_unless_verbose(make_database: Callable[[str], str]) -> None:
    quiet = reme(make_database("reme_quiet_upgrade"), "db", "upgrade")
    verbose = reme(make_database("reme_verbose_upgrade"), "-v", "db", "upgrade")
    verbose_after = reme(make_database("reme_verbose_upgrade_after"), "db", "upgrade", "-v")

    for result in (quiet, verbose, verbose_after):
        assert result.returncode == 0, result.stderr
    assert "alembic" not in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) == 1  # the database line
    assert "Running upgrade" in verbose.stderr
    assert "Running upgrade" in verbose_after.stderr


def test_log_lines_never_land_inside_a_progress_bar(client: httpx.Client, database_url: str) -> None:
    result = reme(database_url, "-v", "load", "bar_ws", str(BFCL))

    assert result.returncode == 0, result.stderr
    assert "embedding" in result.stderr and "474/474" in result.stderr  # the bar was drawn
    log_parts = [part for line in result.stderr.splitlines() for part in line.split("\r") if " INFO " in part]
    assert any("wrote 474 memories to bar_ws" in part for part in log_parts), result.stderr
    for part in log_parts:
        assert TIMESTAMP.match(part), f"log line mixed with a progress bar: {part!r}"


def test_refusal_at_start_is_one_line_without_traceback_and_exit_code_3(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("reme_refusal_codes")
    assert reme(url, "db", "upgrade").returncode == 0

    served = reme(url, "serve", "--port", str(free_port()), REME_EMBEDDING__DIM="512")
    loaded = reme(url, "load", "ws", str(BFCL), REME_EMBEDDING__DIM="512")

    for result in (served, loaded):
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr
        assert "dimension 384" in result.stderr and "reme reembed" in result.stderr
    assert loaded.stderr.count("dimension 512") == 1


def test_an_unreachable_database_is_one_line_with_exit_code_4_and_no_password() -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/nowhere"

    for args in (("keys", "list"), ("serve", "--port", str(free_port()))):
        result = reme(url, *args)

        assert result.returncode == 4, result.stderr
        assert "Traceback" not in result.stderr
        assert "cannot reach the database postgresql://someone@127.0.0.1:" in result.stderr
        assert "hunter2" not in result.stderr


def test_settings_describe_the_embedded_database_and_models(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding=EmbeddingSettings(provider="local"))

    assert describe_database(settings) == f"embedded PostgreSQL in {tmp_path} (REME_DATA_DIR)"
    assert settings.embedding.describe() == "all-MiniLM-L6-v2-int8 (384 dims, local)"
    assert settings.llm.describe().startswith("none: summary flows answer 503")
