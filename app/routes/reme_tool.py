"""ReMe-compatible tool flows (not yet implemented: no routes registered)."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

ROUTES: list[HTTPRouteHandler] = []
