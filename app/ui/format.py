"""Jinja filters of the console: times, counts that may be estimates, sizes, JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from app.store.console import Tally


def fmt_time(value: datetime | str | None) -> str:
    """UTC, to the second: one format everywhere in the console."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_input_time(value: datetime | None) -> str:
    """The value of a datetime-local input (UTC, to the minute)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M")


def fmt_tally(value: Tally | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value.value:,}" if value.exact else f"≈{value.value:,}"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def fmt_number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def url_quote(value: str) -> str:
    return quote(str(value), safe="")


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes`` applied; empty values are left out."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


FILTERS = {
    "time": fmt_time,
    "input_time": fmt_input_time,
    "tally": fmt_tally,
    "bytes": fmt_bytes,
    "num": fmt_number,
    "pretty_json": fmt_json,
    "urlq": url_quote,
}
