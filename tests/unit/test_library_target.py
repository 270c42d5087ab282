"""library_target: the one rule for where loading a bundled library goes (API, CLI, console, auth gate)."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput, NotFound
from app.library import LIBRARY, library_target


def test_the_target_defaults_to_a_workspace_named_after_the_library() -> None:
    target = library_target("bfcl_v3")

    assert target.workspace_id == "bfcl_v3"
    assert target.file == LIBRARY["bfcl_v3"].file and target.file.is_file()


def test_a_given_workspace_is_the_target_and_an_empty_one_means_the_default() -> None:
    assert library_target("appworld", "my_agent").workspace_id == "my_agent"
    assert library_target("appworld", "").workspace_id == "appworld"


def test_an_unknown_library_is_not_found_and_the_known_ones_are_listed() -> None:
    with pytest.raises(NotFound) as missing:
        library_target("nope", "my_agent")

    assert missing.value.message == "no memory library named 'nope'; available: appworld, bfcl_v3"


def test_an_invalid_workspace_id_is_refused_naming_where_it_came_from() -> None:
    with pytest.raises(InvalidInput) as refused:
        library_target("appworld", "a/b", loc="form")

    assert refused.value.errors[0]["loc"] == ["form", "workspace_id"]
