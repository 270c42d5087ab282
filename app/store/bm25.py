"""Okapi BM25 over the stored full-text vectors, as one ranked list of a SQL search.

Every memory holding any word of the query is scored, so a word that only a few memories share
(a name, a place, an object) pulls them in even when the rest of the question matches nothing;
common words weigh little because their inverse document frequency is low.

Term statistics come from the filtered set itself, in the same statement: document frequency
of each query word among the matching memories (a memory holding the word always matches the
any-word query), the size of the set and its average length in lexemes. That is exact and
needs no table to keep up to date, but reads every row of the set: it is used where the search
ranks a small set exactly (``EXACT_SCAN_MAX_ROWS`` in app.store.search).

Term frequency is the number of positions of the lexeme in ``search_text`` (``when_to_use``
and ``content``, English stemming, stop words removed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, Select, Text, cast, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY

from app.models import Memory

# Okapi BM25 parameters (the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
TEXT_CONFIG = literal("english", REGCONFIG)  # typed: there is no (varchar, varchar) variant
# Constants of type "char" and "char"[] (a bound varchar would match no variant of the functions).
_WEIGHT_A: ColumnElement[Any] = literal_column("'A'::\"char\"")
_ONLY_A: ColumnElement[Any] = literal_column("'{a}'::\"char\"[]")


def any_word_query(text: str | ColumnElement[str]) -> ColumnElement[Any]:
    """The query's normalised words joined by OR (plainto_tsquery joins them by AND)."""
    every_word = cast(func.plainto_tsquery(TEXT_CONFIG, text), Text)
    return cast(func.replace(every_word, " & ", " | "), TSQUERY)


def ranked_bm25(
    text: str | ColumnElement[str],
    clauses: list[ColumnElement[bool]],
    depth: int | ColumnElement[int],
    name: str = "bm25",
) -> Select:
    """memory_id, text_rank (the BM25 score), weight 1 and rank, best first, at most ``depth``.

    ``text`` and ``depth`` are values or bound parameters (a statement built once per shape).
    ``name`` prefixes the statement's CTEs, so that two such lists can share a statement.
    """
    lexemes = func.tsvector_to_array(func.to_tsvector(TEXT_CONFIG, text))
    matched = (
        select(
            Memory.memory_id.label("memory_id"),
            Memory.search_text.label("search_text"),
            func.length(Memory.search_text).label("dl"),
        )
        .where(*clauses, Memory.search_text.op("@@")(any_word_query(text)))
        .cte(f"{name}_matched")
    )
    # Only the query's lexemes of each memory: stored lexemes carry no weight (D), so the query's
    # are marked A and the A's kept, in C, instead of unnesting every lexeme of every matching
    # memory and comparing each in SQL (measured: the text list 7.3 -> 5.1 ms per query).
    query_lexemes = func.ts_filter(func.setweight(matched.c.search_text, _WEIGHT_A, lexemes), _ONLY_A)
    words = func.unnest(query_lexemes).table_valued("lexeme", "positions", "weights").render_derived("w")
    postings = (
        select(
            matched.c.memory_id,
            matched.c.dl,
            words.c.lexeme,
            func.coalesce(func.array_length(words.c.positions, 1), 1).label("tf"),
        )
        # A function in FROM sees the rows before it (implicitly LATERAL).
        .select_from(matched.join(words, literal(True)))
        .cte(f"{name}_postings")
    )
    frequency = (
        select(postings.c.lexeme, func.count().label("df")).group_by(postings.c.lexeme).cte(f"{name}_df")
    )
    stats = (
        select(
            cast(func.count(), Float).label("n"),
            # Computed once here as a float: numeric arithmetic per posting costs milliseconds.
            cast(func.greatest(func.avg(func.length(Memory.search_text)), 1), Float).label("avgdl"),
        )
        .where(*clauses)
        .cte(f"{name}_stats")
    )
    n = stats.c.n
    df = cast(frequency.c.df, Float)
    tf = cast(postings.c.tf, Float)
    idf = func.ln(1.0 + (n - df + 0.5) / (df + 0.5))
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * cast(postings.c.dl, Float) / stats.c.avgdl)
    score = func.sum(idf * tf * (BM25_K1 + 1.0) / (tf + norm))
    scored = (
        select(postings.c.memory_id, score.label("text_rank"))
        .select_from(postings)
        .join(frequency, frequency.c.lexeme == postings.c.lexeme)
        .join(stats, literal(True))
        .group_by(postings.c.memory_id)
        .order_by(score.desc(), postings.c.memory_id)
        .limit(depth)
        .subquery()
    )
    return select(
        scored.c.memory_id,
        scored.c.text_rank,
        literal(1.0).label("weight"),
        func.row_number().over(order_by=(scored.c.text_rank.desc(), scored.c.memory_id)).label("rank"),
    )
