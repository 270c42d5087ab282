"""What lifts a memory in hybrid and personal retrieval: rare shared words, the people a question
names, and the date it gives.

Conversations are loaded the way users load them (``vector_store`` load of a ReMe dump, one
personal memory per turn, ``target`` = the speaker); questions name no ``user_name``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

WS = "chat"


async def load_turns(
    client: httpx.AsyncClient, storage_dir: Path, turns: list[tuple[str, str, str]], workspace_id: str = WS
) -> dict[str, str]:
    """Load (speaker, text, time) turns as personal memories; returns text -> memory_id."""
    folder = storage_dir / uuid.uuid4().hex
    folder.mkdir()
    ids = {}
    lines = []
    for speaker, said, when in turns:
        memory_id = uuid.uuid4().hex
        ids[said] = memory_id
        lines.append(
            json.dumps(
                {
                    "memory_id": memory_id,
                    "memory_type": "personal",
                    "when_to_use": said,
                    "content": said,
                    "target": speaker,
                    "time_created": when,
                    "time_modified": when,
                }
            )
        )
    (folder / f"{workspace_id}.jsonl").write_text("\n".join(lines) + "\n")
    body = {"workspace_id": workspace_id, "action": "load", "path": str(folder)}
    response = await client.post("/vector_store", json=body)
    assert response.status_code == 200, response.text
    return ids


async def recall(
    client: httpx.AsyncClient, query: str, top_k: int = 3, **fields: Any
) -> list[dict[str, Any]]:
    body = {"workspace_id": WS, "query": query, "top_k": top_k, **fields}
    response = await client.post("/retrieve_personal_memory", json=body)
    assert response.status_code == 200, response.text
    memories: list[dict[str, Any]] = response.json()["metadata"]["memory_list"]
    return memories


MAY = "2023-05-08 13:00:00"
JULY = "2023-07-01 18:00:00"


async def test_without_user_name_every_users_facts_are_searched(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    ids = await load_turns(
        client,
        storage_dir,
        [("Alice", "I started learning the violin", MAY), ("Bob", "I bought a new bicycle", MAY)],
    )

    found = await recall(client, "who is learning the violin?", top_k=1)
    scoped = await recall(client, "who is learning the violin?", top_k=2, user_name="Bob")

    assert [m["memory_id"] for m in found] == [ids["I started learning the violin"]]
    assert [m["target"] for m in scoped] == ["Bob"]


async def test_a_name_in_the_question_lifts_that_persons_memories(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    # The same words from both speakers: only the name tells them apart.
    ids = await load_turns(
        client,
        storage_dir,
        [
            ("Alice", "I went hiking in the mountains last weekend", MAY),
            ("Bob", "I went hiking in the mountains last weekend", JULY),
            ("Bob", "The weather was lovely", JULY),
        ],
    )
    bob = ids["I went hiking in the mountains last weekend"]  # the later line of two equal texts

    for question in ("Where did Bob go hiking?", "where did bob go hiking?", "Where was Bob's hike?"):
        memories = await recall(client, question)
        assert memories[0]["target"] == "Bob", question
        assert memories[0]["memory_id"] == bob


async def test_a_date_in_the_question_lifts_what_was_said_that_day(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    # Scores are normalised over the candidates: a conversation, not two lines.
    chatter = [
        ("Alice", "How have you been lately?", MAY),
        ("Bob", "Busy with work, but the garden is blooming", MAY),
        ("Bob", "I finally fixed the leaking kitchen tap", MAY),
        ("Alice", "My sister is visiting next month", JULY),
        ("Bob", "I have been reading a lot of history books", JULY),
        ("Bob", "The concert downtown was far too loud", JULY),
    ]
    ids = await load_turns(
        client,
        storage_dir,
        [
            *chatter,
            ("Alice", "We adopted a puppy from the shelter", MAY),
            ("Alice", "We adopted a kitten from the shelter", JULY),
        ],
    )

    in_may = await recall(client, "What did Alice adopt on 8 May 2023?")
    in_july = await recall(client, "What did Alice adopt on 1 July 2023?")

    assert in_may[0]["memory_id"] == ids["We adopted a puppy from the shelter"]
    assert in_july[0]["memory_id"] == ids["We adopted a kitten from the shelter"]


async def test_a_rare_shared_word_outranks_many_common_ones(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    common = [("Alice", f"I went to the park with my friends and my family, day {n}", MAY) for n in range(12)]
    rare = ("Bob", "Grandma left me her old kaleidoscope", JULY)
    ids = await load_turns(client, storage_dir, [*common, rare])

    memories = await recall(client, "what did I go and find with my family in the kaleidoscope box?", top_k=3)

    assert ids[rare[1]] in [m["memory_id"] for m in memories]
    assert memories[0]["memory_id"] == ids[rare[1]]


async def test_v1_hybrid_reports_bm25_and_similarity_and_lifts_a_named_person(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    await load_turns(
        client,
        storage_dir,
        [("Alice", "I love painting sunsets", MAY), ("Bob", "I love painting sunsets", MAY)],
    )
    body = {"query": "What does Bob love painting?", "mode": "hybrid", "top_k": 2}

    response = await client.post(f"/v1/workspaces/{WS}/search", json=body)

    hits = response.json()["items"]
    assert response.status_code == 200, response.text
    assert [h["target"] for h in hits] == ["Bob", "Alice"]
    assert all(h["text_rank"] > 0 and h["similarity"] > 0 for h in hits)
    assert hits[0]["fused_score"] > hits[1]["fused_score"]
