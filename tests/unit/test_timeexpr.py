"""The time-expression resolver: each phrase, said at a known moment, names a known range.

``NOW`` is Wednesday 12 March 2025, 15:30 UTC. Weeks start on Monday; a weekend runs from
Saturday 00:00 to Monday 00:00; ranges are half-open ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.timeexpr import find_time_expressions, mentions_time, resolve_time_range, strip_time_expressions

NOW = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


TABLE = [
    # phrase, expected start, expected end
    ("what did I do today?", at("2025-03-12"), at("2025-03-13")),
    ("yesterday", at("2025-03-11"), at("2025-03-12")),
    ("tomorrow", at("2025-03-13"), at("2025-03-14")),
    ("the day before yesterday", at("2025-03-10"), at("2025-03-11")),
    ("the day after tomorrow", at("2025-03-14"), at("2025-03-15")),
    ("tonight", at("2025-03-12", 18), at("2025-03-13", 6)),
    ("this morning", at("2025-03-12", 6), at("2025-03-12", 12)),
    ("last night", at("2025-03-11", 18), at("2025-03-12", 6)),
    ("yesterday evening", at("2025-03-11", 18), at("2025-03-12")),
    ("last week", at("2025-03-03"), at("2025-03-10")),
    ("this week", at("2025-03-10"), at("2025-03-17")),
    ("next week", at("2025-03-17"), at("2025-03-24")),
    ("earlier this week", at("2025-03-10"), NOW),
    ("what did I do last weekend?", at("2025-03-08"), at("2025-03-10")),
    ("this weekend", at("2025-03-15"), at("2025-03-17")),
    ("next weekend", at("2025-03-22"), at("2025-03-24")),
    ("I went climbing over the weekend", at("2025-03-08"), at("2025-03-10")),
    ("last month", at("2025-02-01"), at("2025-03-01")),
    ("this month", at("2025-03-01"), at("2025-04-01")),
    ("next month", at("2025-04-01"), at("2025-05-01")),
    ("last year", at("2024-01-01"), at("2025-01-01")),
    ("this year", at("2025-01-01"), at("2026-01-01")),
    ("next year", at("2026-01-01"), at("2027-01-01")),
    ("3 days ago", at("2025-03-09"), at("2025-03-10")),
    ("a couple of days ago", at("2025-03-10"), at("2025-03-11")),
    ("two weeks ago", at("2025-02-24"), at("2025-03-03")),
    ("a month ago", at("2025-02-01"), at("2025-03-01")),
    ("2 years ago", at("2023-01-01"), at("2024-01-01")),
    ("in 3 days", at("2025-03-15"), at("2025-03-16")),
    ("in a week", at("2025-03-17"), at("2025-03-24")),
    ("in the past 3 days", at("2025-03-09"), at("2025-03-13")),
    ("over the last two weeks", at("2025-02-26"), at("2025-03-13")),
    ("last Friday", at("2025-03-07"), at("2025-03-08")),
    ("last Wednesday", at("2025-03-05"), at("2025-03-06")),
    ("I went to the gym on Monday", at("2025-03-10"), at("2025-03-11")),
    ("I swam on Friday", at("2025-03-07"), at("2025-03-08")),
    ("I will see the dentist on Friday", at("2025-03-14"), at("2025-03-15")),
    ("this Friday", at("2025-03-14"), at("2025-03-15")),
    ("next Friday", at("2025-03-14"), at("2025-03-15")),
    ("next Wednesday", at("2025-03-19"), at("2025-03-20")),
    ("in March", at("2025-03-01"), at("2025-04-01")),
    ("I was in Lisbon in April", at("2024-04-01"), at("2024-05-01")),
    ("I am going to Lisbon in April", at("2025-04-01"), at("2025-05-01")),
    ("last March", at("2024-03-01"), at("2024-04-01")),
    ("last February", at("2025-02-01"), at("2025-03-01")),
    ("next March", at("2026-03-01"), at("2026-04-01")),
    ("in May 2024", at("2024-05-01"), at("2024-06-01")),
    ("Sept 2023", at("2023-09-01"), at("2023-10-01")),
    ("in 2023", at("2023-01-01"), at("2024-01-01")),
    ("2025-03-14", at("2025-03-14"), at("2025-03-15")),
    ("at 2025-03-14T10:00:00", at("2025-03-14"), at("2025-03-15")),
    ("14 March 2025", at("2025-03-14"), at("2025-03-15")),
    ("the 2nd of February", at("2025-02-02"), at("2025-02-03")),
    ("March 14th, 2025", at("2025-03-14"), at("2025-03-15")),
    ("on March 1st", at("2025-03-01"), at("2025-03-02")),
    ("we met on Dec 24", at("2024-12-24"), at("2024-12-25")),
    ("3/14/2025", at("2025-03-14"), at("2025-03-15")),
    ("14/3/2025", at("2025-03-14"), at("2025-03-15")),
    ("14.03.2025", at("2025-03-14"), at("2025-03-15")),
]


@pytest.mark.parametrize(("phrase", "start", "end"), TABLE, ids=[row[0] for row in TABLE])
def test_phrase_resolves_to_its_range(phrase: str, start: datetime, end: datetime) -> None:
    found = resolve_time_range(phrase, NOW)

    assert found is not None, phrase
    assert (found.start, found.end) == (start, end)


@pytest.mark.parametrize(
    "text",
    [
        "I love sushi",
        "I go running every Monday",
        "On Mondays I teach piano",
        "this may be my favourite song",
        "I sat in the sun",
        "my PIN is 1234",
    ],
)
def test_text_without_a_time_resolves_to_nothing(text: str) -> None:
    assert resolve_time_range(text, NOW) is None


def test_the_longest_overlapping_phrase_wins() -> None:
    found = find_time_expressions("the day before yesterday I baked bread", NOW)

    assert [f.expression for f in found] == ["the day before yesterday"]


def test_several_phrases_resolve_to_the_range_covering_them_all() -> None:
    found = resolve_time_range("between yesterday and next Friday", NOW)

    assert found is not None
    assert (found.start, found.end) == (at("2025-03-11"), at("2025-03-15"))


def test_ranges_follow_the_time_zone_of_now() -> None:
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2025, 3, 13, 1, 0, tzinfo=tokyo)  # still 12 March in UTC

    found = resolve_time_range("yesterday", now)

    assert found is not None
    assert found.start == datetime(2025, 3, 12, tzinfo=tokyo)


def test_a_naive_now_is_taken_as_utc() -> None:
    found = resolve_time_range("today", NOW.replace(tzinfo=None))

    assert found is not None
    assert found.start == at("2025-03-12")


def test_a_weekend_asked_about_on_sunday_is_the_current_one() -> None:
    sunday = datetime(2025, 3, 16, 10, 0, tzinfo=UTC)

    found = resolve_time_range("what did I do on the weekend?", sunday)

    assert found is not None
    assert (found.start, found.end) == (at("2025-03-15"), at("2025-03-17"))


def test_impossible_dates_are_ignored() -> None:
    assert resolve_time_range("2025-02-30", NOW) is None
    assert resolve_time_range("2/30/2025", NOW) is None


def test_stripping_leaves_the_words_to_search_for() -> None:
    text = "where did I eat last weekend?"

    assert strip_time_expressions(text, find_time_expressions(text, NOW)) == "where did I eat ?"


def test_time_hints_without_a_resolvable_phrase_are_noticed() -> None:
    assert mentions_time("what did I do last summer?")
    assert resolve_time_range("what did I do last summer?", NOW) is None
    assert not mentions_time("what food do I like?")
