"""Keep a memory's embedding in its row instead of the TOAST table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

pgvector gives ``vector`` EXTERNAL storage: a row longer than about 2 KB (a 384-dimension
vector is 1.5 KB) has its vector moved out of line, and every distance computed from the
row then reads the TOAST index and pages too: about six buffers per memory. An exact scan
of a small workspace (a top-N sort of its few thousand rows) spent most of its time there
(measured: 3.4 ms of execution for 900 rows, 0.6 ms with the vectors in the rows). MAIN
keeps the vector in the row unless the row could not fit a page at all.

``search_text`` (the tsvector that full-text search and BM25 read on every matching row) is
kept in the row the same way: with only the vector MAIN, PostgreSQL compressed the tsvector
first to make room, and BM25 over a conversation's memories then ran 2.6x slower (3.1 ms
against 1.2 ms; with both MAIN 1.1 ms, and the vector scan 0.9 ms against 1.6 ms). The
longer text columns (``content``, ``when_to_use``) go out of line instead; they are read
only for the few memories a search returns.

Only rows written from now on are stored this way; existing ones stay out of line until
rewritten (docs/operations.md: ``VACUUM FULL memory``). On Citus the shards keep the default:
the change is a tuning of single-server storage, left to the operator there.
"""

from collections.abc import Sequence

from alembic import op

from app.citus import detect
from app.settings import get_settings

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def on_citus() -> bool:
    settings = op.get_context().config.attributes.get("settings") or get_settings()
    return detect(op.get_bind(), settings.database.citus)


def upgrade() -> None:
    if not on_citus():
        op.execute(
            "ALTER TABLE memory ALTER COLUMN embedding SET STORAGE MAIN, "
            "ALTER COLUMN search_text SET STORAGE MAIN"
        )


def downgrade() -> None:
    if not on_citus():
        op.execute(
            "ALTER TABLE memory ALTER COLUMN embedding SET STORAGE EXTERNAL, "
            "ALTER COLUMN search_text SET STORAGE EXTENDED"
        )
