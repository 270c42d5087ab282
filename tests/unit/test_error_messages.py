"""The words of validation errors: what a value must be, and where a JSON body broke."""

from __future__ import annotations

import enum
from typing import Literal

from app.routes.request import describe_malformed_json
from app.routes.validation_messages import allowed_values, describe, plain_words


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def test_bounds_and_types_are_said_plainly() -> None:
    assert plain_words("Expected `int` >= 1", int) == "must be an integer >= 1"
    assert plain_words("Expected `int` <= 500", int) == "must be an integer <= 500"
    assert plain_words("Expected `float | null`, got `str`", float | None) == "must be a number"
    assert plain_words("Expected `bool`, got `str`", bool) == "must be true or false"


def test_enum_errors_list_the_allowed_values() -> None:
    assert plain_words("Invalid enum value 'x'", Literal["a", "b"] | None) == "must be one of 'a', 'b'"
    assert allowed_values(Colour | None) == ["red", "blue"]


def test_an_unknown_message_is_kept() -> None:
    assert plain_words("something else entirely", int) == "something else entirely"


def test_parameters_and_body_fields_are_described_differently() -> None:
    assert describe({"loc": ["query", "limit"], "msg": "m"}) == "query parameter 'limit': m"
    assert (
        describe({"loc": ["body", "trajectories", 0, "score"], "msg": "m"}) == "body.trajectories.0.score: m"
    )


def test_malformed_json_is_located() -> None:
    message, where = describe_malformed_json(b'{\n  "a": 1,\n  "b" 2}', "parser words")

    assert where == {"line": 3, "column": 7, "char": 18}
    assert message.endswith("at line 3, column 7 (char 18)")


def test_json_python_accepts_keeps_the_parsers_words() -> None:
    message, where = describe_malformed_json(b'{"a": NaN}', "JSON is malformed: invalid character (byte 6)")

    assert where == {}
    assert message == "the body is not valid JSON: JSON is malformed: invalid character (byte 6)"
