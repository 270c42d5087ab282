"""``reme reembed``: move every memory to the configured embedding model and dimension.

The column is re-created at the new dimension (vectors cleared), the new model and
dimension are recorded with a "pending" mark, and vectors are recomputed in batches.
Interrupted, it continues where it stopped when run again.
"""

from __future__ import annotations

import argparse

from sqlalchemy import bindparam, text
from tqdm import tqdm

from app.commands import with_database
from app.db import Database, recorded_embedding_space
from app.providers.embeddings import build_embedder
from app.settings import EmbeddingSettings
from app.store.memories import embedding_text

PENDING_KEY = "reembed_pending"
MAX_VECTOR_INDEX_DIM = 2000


def register(sub: argparse._SubParsersAction) -> None:
    reembed = sub.add_parser(
        "reembed", help="recompute every embedding with the configured model (REME_EMBEDDING__*)"
    )
    reembed.add_argument("--model", help="embedding model name (default: from settings)")
    reembed.add_argument("--dim", type=int, help="embedding dimension (default: from settings)")
    reembed.add_argument("--batch", type=int, default=256, help="memories per embedding batch")
    reembed.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        settings = db.settings
        if args.model:
            settings.embedding.model = args.model
        if args.dim:
            settings.embedding.dim = args.dim
        model, dim = settings.embedding.resolved_model, settings.embedding.resolved_dim
        assert db.engine is not None
        async with db.engine.begin() as conn:
            recorded = await conn.run_sync(recorded_embedding_space)
            pending = await conn.scalar(
                text("SELECT value FROM reme_setting WHERE key = :k"), {"k": PENDING_KEY}
            )
        if recorded is None:
            return "the database has no schema yet: run `reme db upgrade` (or start the service) first"
        if recorded == (model, dim) and not pending:
            return f"nothing to do: memories are already embedded with {model} ({dim} dimensions)"
        if recorded != (model, dim):
            await switch_column(db, model, dim)
        embedded = await recompute(db, settings.embedding, args.batch)
        await finish(db, dim)
        return f"re-embedded {embedded} memories with {model} ({dim} dimensions)"

    print(with_database(work))
    return 0


async def switch_column(db: Database, model: str, dim: int) -> None:
    async with db.session() as session:
        await session.execute(text("DROP INDEX IF EXISTS ix_memory_embedding_hnsw"))
        await session.execute(
            text(f"ALTER TABLE memory ALTER COLUMN embedding TYPE vector({int(dim)}) USING NULL")
        )
        for key, value in (("embedding_model", model), ("embedding_dim", str(dim)), (PENDING_KEY, "true")):
            await session.execute(
                text(
                    "INSERT INTO reme_setting (key, value) VALUES (:k, :v) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()"
                ),
                {"k": key, "v": value},
            )


async def recompute(db: Database, embedding_settings: EmbeddingSettings, batch: int) -> int:
    embedder = build_embedder(embedding_settings)
    async with db.session() as session:
        total = await session.scalar(text("SELECT count(*) FROM memory WHERE embedding IS NULL")) or 0
    done = 0
    update = text(
        "UPDATE memory SET embedding = CAST(:embedding AS vector) "
        "WHERE workspace_id = :ws AND memory_id = :id"
    ).bindparams(bindparam("embedding"))
    try:
        with tqdm(total=total, unit="memory", desc="re-embedding") as bar:
            while True:
                async with db.session() as session:
                    rows = (
                        await session.execute(
                            text(
                                "SELECT workspace_id, memory_id, memory_type, target, when_to_use, content "
                                "FROM memory "
                                "WHERE embedding IS NULL ORDER BY workspace_id, memory_id LIMIT :n"
                            ),
                            {"n": batch},
                        )
                    ).all()
                if not rows:
                    break
                texts = [
                    embedding_text(r.when_to_use, r.content, memory_type=r.memory_type, target=r.target)
                    for r in rows
                ]
                vectors = await embedder.embed(texts)
                params = [
                    {"ws": r.workspace_id, "id": r.memory_id, "embedding": str(list(v))}
                    for r, v in zip(rows, vectors, strict=True)
                ]
                async with db.session() as session:
                    await session.execute(update, params)
                done += len(rows)
                bar.update(len(rows))
    finally:
        await embedder.close()
    return done


async def finish(db: Database, dim: int) -> None:
    async with db.session() as session:
        if dim <= MAX_VECTOR_INDEX_DIM:
            index = (
                "CREATE INDEX IF NOT EXISTS ix_memory_embedding_hnsw ON memory USING hnsw "
                "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
            )
        else:
            index = (
                "CREATE INDEX IF NOT EXISTS ix_memory_embedding_hnsw ON memory USING hnsw "
                f"((embedding::halfvec({int(dim)})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
            )
        await session.execute(text(index))
        await session.execute(text("DELETE FROM reme_setting WHERE key = :k"), {"k": PENDING_KEY})
