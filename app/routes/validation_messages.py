"""Validation failures in words a caller can act on: which parameter, what it must be, what was sent.

Litestar reports a bad query parameter as ``ParamType.QUERY.memory_type: Invalid enum value 'foo'``
(the Python name, the parser's words); this turns it into ``query parameter 'type': must be one of
'task', 'personal', 'tool' (got 'foo')``. Body errors keep their field path (``body.trajectories.0``).
"""

from __future__ import annotations

import enum
import re
import typing
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

PARAMETER_KINDS = {
    "query": "query parameter",
    "path": "path parameter",
    "header": "header",
    "cookie": "cookie",
}
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "uuid": "a UUID",
    "datetime": "an ISO 8601 date-time such as 2025-03-14T09:30:00Z",
    "date": "an ISO 8601 date such as 2025-03-14",
}
MISSING_BODY = (
    "a JSON body is required and the request had none: send a JSON object with "
    "'Content-Type: application/json'"
)
_BOUND = re.compile(r"^Expected `(\w+)` ([<>]=?) (\S+)$")
_TYPE = re.compile(r"^Expected `([^`]+)`, got `[^`]+`$")
_ENUM = re.compile(r"^Invalid enum value ")
_DATETIME = re.compile(r"^Invalid RFC3339 encoded (datetime|date)$")


def validation_errors(request: Request[Any, Any, Any], exc: ValidationException) -> list[dict[str, Any]]:
    """``[{"loc": [...], "msg": ...}]`` for each failure Litestar reported."""
    errors = []
    for item in exc.extra or []:
        if not isinstance(item, dict):
            continue
        source = str(getattr(item.get("source"), "value", item.get("source")) or "body")
        key = str(item.get("key") or "")
        message = str(item.get("message") or "invalid value")
        if source == "body" and key == "data" and message == "'data'":
            # Litestar's words for a handler's ``data`` that never arrived: the body was empty.
            errors.append({"loc": ["body"], "msg": MISSING_BODY})
        elif source in PARAMETER_KINDS and key:
            errors.append(parameter_error(request, source, key, message))
        else:
            errors.append({"loc": ["body", *(key.split(".") if key else [])], "msg": message})
    return errors


def describe(error: dict[str, Any]) -> str:
    """One error as a phrase: ``query parameter 'limit': must be ...`` or ``body.top_k: ...``."""
    loc = error["loc"]
    if len(loc) == 2 and loc[0] in PARAMETER_KINDS:
        return f"{PARAMETER_KINDS[loc[0]]} '{loc[1]}': {error['msg']}"
    return f"{'.'.join(map(str, loc))}: {error['msg']}"


def parameter_error(request: Request[Any, Any, Any], source: str, key: str, message: str) -> dict[str, Any]:
    field = request.route_handler.parsed_fn_signature.parameters.get(key)
    kwarg = getattr(field, "kwarg_definition", None)
    name = getattr(kwarg, "name", None) or key  # the name the caller uses (an alias such as ?type=)
    words = plain_words(message, getattr(field, "annotation", None))
    sent = sent_value(request, source, name)
    return {"loc": [source, name], "msg": f"{words} (got {sent!r})" if sent is not None else words}


def plain_words(message: str, annotation: Any) -> str:
    if match := _BOUND.match(message):
        kind, op, bound = match.groups()
        return f"must be {_TYPE_WORDS.get(kind, kind)} {op} {bound}"
    if match := _TYPE.match(message):
        kinds = [kind for kind in match.group(1).split(" | ") if kind != "null"]
        return "must be " + " or ".join(_TYPE_WORDS.get(kind, kind) for kind in kinds)
    if _ENUM.match(message) and (choices := allowed_values(annotation)):
        return "must be one of " + ", ".join(repr(choice) for choice in choices)
    if match := _DATETIME.match(message):
        return f"must be {_TYPE_WORDS[match.group(1)]}"
    return message


def allowed_values(annotation: Any) -> list[Any]:
    """The values a ``Literal[...]`` or an ``Enum`` annotation (possibly optional) allows."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    values: list[Any] = []
    for arg in typing.get_args(annotation):
        values.extend(allowed_values(arg))
    return values


def sent_value(request: Request[Any, Any, Any], source: str, name: str) -> str | None:
    """The value the caller sent, to repeat in the message (query and path parameters only)."""
    if source == "query":
        return request.query_params.get(name)
    if source == "path":
        value = request.path_params.get(name)
        return None if value is None else str(value)
    return None  # headers and cookies may carry credentials: never echoed
