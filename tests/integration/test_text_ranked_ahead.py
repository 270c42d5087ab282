"""The words of a question ranked ahead of its vector (while the query is embedded).

retrieve_personal_memory ranks the text list (BM25) in its own statement and hands it to the
hybrid search; these tests check that the hand-over changes nothing in what is found, that a
set too large to rank exactly is not ranked at all, and that the BM25 list itself still puts
the memory sharing a rare word first.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.providers.embeddings import build_embedder
from app.settings import Settings
from app.store.exact_search import rank_text_exactly
from app.store.search import FUSION_DEPTH, SearchFilters, SearchHit, SearchRequest, search_memories
from tests.integration.test_recall_signals import WS, load_turns, recall

TURNS = [
    ("Mara", "I finally adopted a greyhound from the shelter", "2024-03-01 10:00:00"),
    ("Mara", "Work has been busy, lots of meetings this week", "2024-03-02 10:00:00"),
    ("Jon", "My sister visited and we cooked dinner together", "2024-03-03 10:00:00"),
    ("Jon", "I went hiking in the hills near the lake", "2024-03-04 10:00:00"),
    ("Mara", "The greyhound sleeps on the sofa all day", "2024-03-05 10:00:00"),
    ("Jon", "I started reading a novel about sailors", "2024-03-06 10:00:00"),
    ("Mara", "We went to a concert on Friday night", "2024-03-07 10:00:00"),
    ("Jon", "Dinner at the new ramen place was great", "2024-03-08 10:00:00"),
]
QUESTIONS = [
    "What kind of dog did Mara adopt?",
    "Where did Jon go hiking?",
    "what did they cook for dinner",
    "Which book is Jon reading?",
]


def _listed(hits: list[SearchHit]) -> list[tuple[str, float | None, float | None, float]]:
    return [(h.memory.memory_id, h.similarity, h.text_rank, round(h.fused_score, 9)) for h in hits]


def _filters() -> SearchFilters:
    return SearchFilters(workspace_id=WS, memory_type="personal")


async def test_the_text_list_ranked_ahead_finds_what_one_statement_finds(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path, settings: Settings
) -> None:
    await load_turns(client, storage_dir, TURNS)
    embedder = build_embedder(settings.embedding)  # the model the service runs with
    vectors = await embedder.embed(QUESTIONS)
    await embedder.close()
    for question, vector in zip(QUESTIONS, vectors, strict=True):
        words = " or ".join(question.rstrip("?").split())
        request = SearchRequest(filters=_filters(), top_k=5, mode="hybrid", embedding=vector, text=words)
        async with AsyncSession(engine) as session, session.begin():
            together = _listed(await search_memories(session, request))
            request.text_ranking = await rank_text_exactly(
                session, filters=_filters(), text=words, depth=5 * FUSION_DEPTH, max_rows=100
            )
            assert request.text_ranking is not None
            ahead = _listed(await search_memories(session, request))
        assert together, question
        assert ahead == together, question


async def test_a_rare_shared_word_leads_the_text_list(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path
) -> None:
    ids = await load_turns(client, storage_dir, TURNS)
    async with AsyncSession(engine) as session, session.begin():
        ranking = await rank_text_exactly(
            session, filters=_filters(), text="the or greyhound or day", depth=20, max_rows=100
        )
    assert ranking is not None
    greyhound = {ids[TURNS[0][1]], ids[TURNS[4][1]]}
    assert set(ranking.memory_ids[:2]) == greyhound
    assert ranking.scores == sorted(ranking.scores, reverse=True)
    # Only memories holding a word of the query are listed ("the" is a stop word).
    assert len(ranking.memory_ids) == 2


async def test_a_set_larger_than_the_cap_is_not_ranked(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path
) -> None:
    await load_turns(client, storage_dir, TURNS)
    async with AsyncSession(engine) as session, session.begin():
        capped = await rank_text_exactly(
            session, filters=_filters(), text="greyhound", depth=20, max_rows=len(TURNS) - 1
        )
        exact = await rank_text_exactly(
            session, filters=_filters(), text="greyhound", depth=20, max_rows=len(TURNS)
        )
        nothing = await rank_text_exactly(
            session, filters=_filters(), text="submarine", depth=20, max_rows=len(TURNS)
        )
    assert capped is None
    assert exact is not None and len(exact.memory_ids) == 2
    assert nothing is not None and nothing.memory_ids == [] and nothing.scores == []


async def test_personal_retrieval_ranks_words_while_embedding(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    ids = await load_turns(client, storage_dir, TURNS)
    response = await client.post(
        "/retrieve_personal_memory", json={"workspace_id": WS, "query": "Who has a greyhound?", "top_k": 2}
    )
    assert response.status_code == 200, response.text
    metadata = response.json()["metadata"]
    assert "rank_words" in metadata["timings_ms"]
    found = {m["memory_id"] for m in metadata["memory_list"]}
    assert found == {ids[TURNS[0][1]], ids[TURNS[4][1]]}
    assert await recall(client, "zzz qqq", top_k=2)  # no shared word: the vector list still answers
