"""The embedded server starts with reme's own server settings (shared_buffers)."""

from __future__ import annotations

import os

import pytest

from app.embedded import CONF_FILE, EmbeddedPostgres
from tests.support.processes import data_root

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the embedded server's sockets")


def _shared_buffers(server: EmbeddedPostgres) -> str:
    return str(server.server.psql("SHOW shared_buffers;"))


def test_shared_buffers_are_applied_at_each_start_and_the_include_is_written_once() -> None:
    with data_root() as root:
        for size in (160, 192):
            server = EmbeddedPostgres(root / "data", shared_buffers_mb=size)
            server.start()
            try:
                assert f"{size}MB" in _shared_buffers(server)
            finally:
                server.stop()

        pgdata = root / "data" / "pg"
        assert "shared_buffers = '192MB'" in (pgdata / CONF_FILE).read_text()
        assert (pgdata / "postgresql.conf").read_text().count(f"include_if_exists = '{CONF_FILE}'") == 1
