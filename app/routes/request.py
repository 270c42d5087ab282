"""The request class of the app: a JSON body that cannot be read is a 400 saying where."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from app.errors import InvalidInput
from app.routes.validation_messages import MISSING_BODY


class ReMeRequest(Request[Any, Any, Any]):
    """Litestar's request, with errors a person can act on when the JSON body is missing or broken."""

    async def json(self) -> Any:
        body = await self.body()
        if not body.strip():
            raise InvalidInput(MISSING_BODY, errors=[{"loc": ["body"], "msg": MISSING_BODY}])
        try:
            return await super().json()
        except SerializationException as exc:
            message, position = describe_malformed_json(body, str(exc))
            content_type = self.headers.get("content-type", "")
            if content_type and "json" not in content_type:
                message += f" (the request says Content-Type: {content_type}; send application/json)"
            raise InvalidInput(message, errors=[{"loc": ["body"], "msg": message, **position}]) from exc


def describe_malformed_json(body: bytes, parser_message: str) -> tuple[str, dict[str, int]]:
    """What is wrong with ``body`` and where: line and column (from 1) and character offset (from 0)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"the body is not UTF-8 text: byte {exc.start} cannot be decoded; send JSON encoded as UTF-8",
            {"char": exc.start},
        )
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno} (char {exc.pos})"
        return (
            f"the body is not valid JSON: {exc.msg} at {where}",
            {"line": exc.lineno, "column": exc.colno, "char": exc.pos},
        )
    # Python's parser accepts a few things ours does not (NaN, Infinity): keep our parser's words.
    return f"the body is not valid JSON: {parser_message}", {}
