"""API keys through the client: sent as a bearer token; 401 and 403 become typed errors."""

from __future__ import annotations

import httpx
import pytest
from reme_client import AsyncReMeClient, AuthenticationError, PermissionDeniedError, ReMeClient

from tests.client.conftest import AnyClient, done
from tests.integration.test_auth import auth_server, auth_settings, create_key
from tests.support.server import RunningServer

__all__ = ["auth_server", "auth_settings"]  # fixtures of the service with auth enabled


def make_client(kind: str, base_url: str, api_key: str | None) -> AnyClient:
    if kind == "sync":
        return ReMeClient(base_url, api_key=api_key or "")
    return AsyncReMeClient(base_url, api_key=api_key or "")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_key_opens_its_workspaces_and_nothing_else(
    kind: str, auth_server: RunningServer, client: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "--name", "agent", "--workspace", "mine", "--scope", "write")
    keyed = make_client(kind, auth_server.base_url, key)
    anonymous = make_client(kind, auth_server.base_url, None)

    added = await done(keyed.add_memories("mine", {"content": "allowed"}))
    with pytest.raises(PermissionDeniedError) as denied:
        await done(keyed.add_memories("theirs", {"content": "not allowed"}))
    with pytest.raises(AuthenticationError) as unknown:
        await done(anonymous.retrieve_task_memory_simple("mine", "anything"))

    assert [m.content for m in added] == ["allowed"]
    assert denied.value.status_code == 403 and unknown.value.status_code == 401
