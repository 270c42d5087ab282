"""Pieces of observability that need no server: statement shapes, JSON log lines, the no-op tracer."""

from __future__ import annotations

import json
import logging

from app.logging import EscapingFormatter, JsonFormatter
from app.observability.database import SHAPE_CHARS, statement_shape


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "reme.test", "levelname": "INFO", "msg": message, "args": args})
    for key, value in extra.items():
        setattr(made, key, value)
    made.request_id = "r1"
    return made


def test_a_statement_shape_collapses_whitespace_and_long_placeholder_lists() -> None:
    shape = statement_shape("SELECT a,\n       b\n  FROM memory WHERE id IN ($1, $2, $3,\n $4)")

    assert shape == "SELECT a, b FROM memory WHERE id IN ($1, ...)"


def test_a_long_statement_shape_is_cut() -> None:
    shape = statement_shape("SELECT " + ", ".join(f"column_{i}" for i in range(200)) + " FROM memory")

    assert len(shape) == SHAPE_CHARS and shape.endswith("...")


def test_a_json_line_escapes_every_control_and_line_separator() -> None:
    line = JsonFormatter().format(record("path %s", "/a\nb\x1b\x7f\x85\u2028\u2029"))

    assert "\n" not in line and "\x1b" not in line and "\x7f" not in line
    assert "\x85" not in line and "\u2028" not in line and "\u2029" not in line
    assert json.loads(line)["message"] == "path /a\nb\x1b\x7f\x85\u2028\u2029"


def test_a_json_line_keeps_non_ascii_text_readable() -> None:
    line = JsonFormatter().format(record("user said %s", "café 東京"))

    assert "café 東京" in line


def test_a_json_line_carries_the_known_fields() -> None:
    line = JsonFormatter().format(record("done", workspace="w1", flow="react", status=200, duration_ms=1.5))

    entry = json.loads(line)
    assert (entry["workspace"], entry["flow"], entry["status"], entry["duration_ms"]) == (
        "w1",
        "react",
        200,
        1.5,
    )
    assert entry["request_id"] == "r1"


def test_a_text_line_escapes_controls_too() -> None:
    line = EscapingFormatter("%(message)s").format(record("path %s", "/a\nb\x1b\u2028"))

    assert line == "path /a\\nb\\x1b\\u2028"
