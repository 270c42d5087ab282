"""The /v1 REST API through ReMeClient and AsyncReMeClient (each test runs with both)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reme_client import ConflictError, NewMemory, NotFoundError

from tests.client.conftest import AnyClient, collect, done, undeclared_fields

NOTES = [
    {"when_to_use": "When paging through API results", "content": "Follow next_cursor until it is null."},
    {"when_to_use": "When an upload fails with 413", "content": "Split the file into smaller parts."},
    {"when_to_use": "When a login token expires", "content": "Refresh the token, then retry once."},
]


async def test_workspaces_are_created_listed_counted_and_deleted(reme: AnyClient) -> None:
    created = await done(reme.create_workspace("team:alpha", description="the alpha team"))
    await done(reme.add_memories("team:alpha", NOTES))

    listed = await collect(reme.iter_workspaces(page_size=1))
    stats = await done(reme.workspace_stats("team:alpha"))
    deleted = await done(reme.delete_workspace("team:alpha"))

    assert created.id == "team:alpha" and created.description == "the alpha team"
    assert [w.id for w in listed] == ["team:alpha"]
    assert (stats.memory_count, stats.by_type) == (3, {"task": 3})
    assert deleted.deleted and deleted.memory_count == 3
    with pytest.raises(NotFoundError):
        await done(reme.workspace_stats("team:alpha"))


async def test_creating_a_taken_workspace_id_is_a_conflict_error(reme: AnyClient) -> None:
    await done(reme.create_workspace("w1"))

    with pytest.raises(ConflictError) as raised:
        await done(reme.create_workspace("w1"))

    assert raised.value.status_code == 409
    assert raised.value.request_id


async def test_a_memory_is_added_read_patched_and_deleted_with_its_history(reme: AnyClient) -> None:
    [added] = await done(reme.add_memories("w1", NewMemory(content="Prefers tea", memory_type="personal")))
    event = datetime(2025, 3, 8, tzinfo=UTC)

    patched = await done(
        reme.patch_memory(
            "w1", added.memory_id, content="Prefers green tea", metadata={"k": 1}, event_time=event
        )
    )
    cleared = await done(reme.patch_memory("w1", added.memory_id, event_time=None))
    read = await done(reme.get_memory("w1", added.memory_id))
    await done(reme.delete_memory("w1", added.memory_id))
    history = await done(reme.memory_history("w1", added.memory_id))

    assert patched.content == "Prefers green tea" and patched.metadata == {"k": 1}
    assert patched.event_time == event and cleared.event_time is None
    assert read.content == "Prefers green tea" and read.memory_type == "personal"
    assert [e.action for e in history.events] == ["add", "update", "update", "delete"]
    with pytest.raises(NotFoundError):
        await done(reme.get_memory("w1", added.memory_id))


async def test_iter_memories_follows_the_cursors_through_every_page(reme: AnyClient) -> None:
    many = [{"content": f"note number {i}", "memory_id": f"m{i:03d}"} for i in range(7)]
    await done(reme.add_memories("w1", many))

    ascending = await collect(reme.iter_memories("w1", page_size=2))
    descending = await collect(reme.iter_memories("w1", page_size=3, order="desc"))

    assert [m.memory_id for m in ascending] == [f"m{i:03d}" for i in range(7)]
    assert [m.memory_id for m in descending] == [f"m{i:03d}" for i in reversed(range(7))]


async def test_iter_memories_passes_its_filters_to_every_page(reme: AnyClient) -> None:
    mixed = [{"content": f"fact {i}", "memory_type": "personal" if i % 2 else "task"} for i in range(6)]
    await done(reme.add_memories("w1", mixed))

    personal = await collect(reme.iter_memories("w1", page_size=1, memory_type="personal"))

    assert [m.content for m in personal] == ["fact 1", "fact 3", "fact 5"]


async def test_search_modes_and_filters(reme: AnyClient) -> None:
    await done(reme.add_memories("w1", [*NOTES, {"content": "Follow the cursor of a page", "score": 0.9}]))

    vector = await done(reme.search("w1", "paging through API results", top_k=2))
    text = await done(reme.search("w1", "cursor", mode="text"))
    hybrid = await done(reme.search("w1", "token expires", mode="hybrid", top_k=1))
    scored = await done(reme.search("w1", "cursor", mode="text", min_score=0.5))

    assert vector[0].when_to_use == "When paging through API results" and len(vector) == 2
    assert vector[0].similarity is not None
    assert {h.content for h in text} == {
        "Follow next_cursor until it is null.",
        "Follow the cursor of a page",
    }
    assert hybrid[0].when_to_use == "When a login token expires" and hybrid[0].text_rank is not None
    assert [h.content for h in scored] == ["Follow the cursor of a page"]


async def test_export_streams_every_memory_and_import_restores_them_elsewhere(reme: AnyClient) -> None:
    await done(reme.add_memories("source", NOTES))

    exported = await collect(reme.export_workspace("source"))
    imported = await done(reme.import_memories("copy", iter(exported)))
    copied = await collect(reme.iter_memories("copy"))

    assert len(exported) == 3 and imported.imported == 3 and imported.workspace_id == "copy"
    assert sorted(m.content for m in copied) == sorted(n["content"] for n in NOTES)


async def test_import_with_replace_leaves_exactly_the_imported_memories(reme: AnyClient) -> None:
    await done(reme.add_memories("w1", NOTES))
    body = b'{"memory_id": "only", "content": "the only memory left"}\n'

    result = await done(reme.import_memories("w1", body, replace=True))

    assert result.imported == 1
    assert [m.memory_id for m in await collect(reme.iter_memories("w1"))] == ["only"]


async def test_exporting_an_unknown_workspace_raises_not_found(reme: AnyClient) -> None:
    with pytest.raises(NotFoundError):
        await collect(reme.export_workspace("nobody"))


async def test_ids_are_percent_encoded_in_paths(reme: AnyClient) -> None:
    """Ids with characters that mean something in a URL reach the service intact."""
    [added] = await done(reme.add_memories("ws:a.b-c", {"content": "x", "memory_id": "id with space?&#%@ü"}))

    read = await done(reme.get_memory("ws:a.b-c", "id with space?&#%@ü"))

    assert added.memory_id == read.memory_id == "id with space?&#%@ü"
    assert read.workspace_id == "ws:a.b-c"


async def test_v1_answers_are_fully_typed(reme: AnyClient) -> None:
    [added] = await done(reme.add_memories("w1", NOTES[:1]))
    results = [
        added,
        await done(reme.workspace_stats("w1")),
        await done(reme.memory_history("w1", added.memory_id)),
        *(await done(reme.search("w1", "paging", mode="hybrid"))),
        await done(reme.health()),
        await done(reme.ready()),
    ]

    assert [found for r in results for found in undeclared_fields(r)] == []
