"""The memory libraries shipped with the service, through the client: list them, load one."""

from __future__ import annotations

import httpx
import pytest
from reme_client import BadRequestError, Library, NotFoundError, PermissionDeniedError

from app.library import LIBRARY
from tests.client.conftest import AnyClient, done, undeclared_fields
from tests.client.test_client_auth import make_client
from tests.integration.test_auth import auth_server, auth_settings, create_key
from tests.support.server import RunningServer

__all__ = ["auth_server", "auth_settings"]  # fixtures of the service with auth enabled

APPWORLD = LIBRARY["appworld"].memory_count


async def test_list_libraries_gives_each_shipped_library_with_its_size(reme: AnyClient) -> None:
    libraries = await done(reme.list_libraries())

    assert all(isinstance(library, Library) for library in libraries)
    assert {library.name: library.memory_count for library in libraries} == {
        entry.name: entry.memory_count for entry in LIBRARY.values()
    }
    assert all(library.description for library in libraries)
    assert [found for library in libraries for found in undeclared_fields(library)] == []


async def test_a_library_loads_into_a_workspace_named_after_it_by_default(reme: AnyClient) -> None:
    loaded = await done(reme.load_library("appworld"))
    stats = await done(reme.workspace_stats("appworld"))

    assert (loaded.library, loaded.workspace_id, loaded.loaded, loaded.replaced) == (
        "appworld",
        "appworld",
        APPWORLD,
        False,
    )
    assert stats.memory_count == APPWORLD
    assert undeclared_fields(loaded) == []


async def test_loading_twice_adds_nothing_and_replace_drops_the_workspaces_own_memories(
    reme: AnyClient,
) -> None:
    await done(reme.add_memories("agent.lib", {"content": "the agent's own memory"}))

    await done(reme.load_library("appworld", workspace_id="agent.lib"))
    again = await done(reme.load_library("appworld", workspace_id="agent.lib"))
    kept = await done(reme.workspace_stats("agent.lib"))
    replaced = await done(reme.load_library("appworld", workspace_id="agent.lib", replace=True))
    only_library = await done(reme.workspace_stats("agent.lib"))

    assert again.workspace_id == "agent.lib"
    assert kept.memory_count == APPWORLD + 1
    assert replaced.replaced is True
    assert only_library.memory_count == APPWORLD


async def test_an_unknown_library_is_not_found_and_names_the_ones_there_are(reme: AnyClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        await done(reme.load_library("nope"))

    assert "available: appworld, bfcl_v3" in missing.value.message
    assert [error.loc for error in missing.value.errors] == [("path", "name")]


async def test_a_bad_target_workspace_id_is_a_bad_request_naming_the_field(reme: AnyClient) -> None:
    with pytest.raises(BadRequestError) as refused:
        await done(reme.load_library("appworld", workspace_id="a/b"))

    assert any("workspace_id" in error.loc for error in refused.value.errors)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_loading_needs_a_write_key_for_the_target_workspace(
    kind: str, auth_server: RunningServer, client: httpx.AsyncClient, database_url: str
) -> None:
    reader = create_key(database_url, "--name", "reader", "--workspace", "appworld", "--scope", "read")
    writer = create_key(database_url, "--name", "writer", "--workspace", "mine", "--scope", "write")

    listed = await done(make_client(kind, auth_server.base_url, reader).list_libraries())
    with pytest.raises(PermissionDeniedError) as by_reader:
        await done(make_client(kind, auth_server.base_url, reader).load_library("appworld"))
    with pytest.raises(PermissionDeniedError) as elsewhere:
        await done(make_client(kind, auth_server.base_url, writer).load_library("appworld"))
    loaded = await done(
        make_client(kind, auth_server.base_url, writer).load_library("bfcl_v3", workspace_id="mine")
    )

    assert len(listed) == len(LIBRARY)
    assert "may not write" in by_reader.value.message
    assert "'appworld'" in elsewhere.value.message
    assert loaded.loaded == LIBRARY["bfcl_v3"].memory_count
