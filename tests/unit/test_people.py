"""Which known targets a query names (app.store.people.names_in)."""

from __future__ import annotations

from app.store.people import names_in

TARGETS = ["Caroline", "Melanie", "Jo", "Mary Ann", "user"]


def test_a_name_is_a_whole_word_of_the_query_in_any_case() -> None:
    assert names_in("When did caroline go to the support group?", TARGETS) == ["Caroline"]
    assert names_in("What is Caroline's favourite book?", TARGETS) == ["Caroline"]
    assert names_in("Did Carol go?", TARGETS) == []  # a prefix is not the name


def test_every_named_person_is_found() -> None:
    assert names_in("What did Melanie give Caroline?", TARGETS) == ["Caroline", "Melanie"]


def test_a_multi_word_name_matches_whole_or_by_its_first_word() -> None:
    assert names_in("Where does Mary Ann live?", TARGETS) == ["Mary Ann"]
    assert names_in("Where does Mary live?", TARGETS) == ["Mary Ann"]


def test_names_shorter_than_three_letters_are_not_looked_for() -> None:
    assert names_in("What did Jo say?", TARGETS) == []
