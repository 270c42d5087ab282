"""The interactive API page, served with its own assets so it works without internet.

Swagger UI's JavaScript and CSS come from the ``swagger-ui-py`` package (it ships the Swagger UI
distribution, Apache-2.0, in ``swagger_ui/static``); nothing is fetched from a CDN. The page is at
``/docs`` (where FastAPI-era ReMe clients look for it) and ``/schema/swagger``; the schema at
``/openapi.json`` and ``/schema/openapi.json``.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

from app.errors import NotFound

ASSET_PATH = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def swagger_plugin() -> SwaggerRenderPlugin:
    """Litestar's Swagger UI page, pointed at the assets this app serves itself."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSET_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSET_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSET_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSET_PATH}/favicon-32x32.png'>",
        path="/swagger",
    )


@cache
def assets_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("the Swagger UI assets are not installed (pip package swagger-ui-py)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def schema_router(prefix: str = "/schema") -> Router:
    """Litestar's router of the OpenAPI pages, whose unknown paths are 404s in the envelope, not HTML.

    Litestar adds its own HTML "not found" page at ``{path:str}`` under this router; a handler
    registered first on the same path (same parameter name) takes its place.
    """

    @get("/{path:str}", sync_to_thread=False, include_in_schema=False)
    def unknown_schema_path(path: FromPath[str]) -> None:
        raise NotFoundException()  # answered like any path no route serves

    return Router(prefix, route_handlers=[unknown_schema_path], include_in_schema=False)


def docs_router(plugin: SwaggerRenderPlugin) -> Router:
    """``GET /docs``, ``GET /openapi.json`` and the page's assets, outside the OpenAPI schema."""

    @get("/docs", media_type=MediaType.HTML, sync_to_thread=False, summary="Interactive API docs")
    def docs_page(request: Request[Any, Any, Any]) -> bytes:
        return plugin.render(request, request.app.openapi_schema.to_schema())

    @get("/openapi.json", sync_to_thread=False, summary="OpenAPI schema")
    def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = plugin.render_json(request, request.app.openapi_schema.to_schema())
        return Response(body, media_type="application/vnd.oai.openapi+json")

    @get(f"{ASSET_PATH}/{{name:str}}", sync_to_thread=False, summary="Swagger UI asset")
    def asset(name: FromPath[str]) -> File:
        if name not in ASSETS:
            raise NotFound(f"no documentation asset {name!r}; the page uses {', '.join(sorted(ASSETS))}")
        return File(
            assets_dir() / name,
            media_type=ASSETS[name],
            content_disposition_type="inline",
            headers={"cache-control": "public, max-age=86400"},
        )

    return Router("/", route_handlers=[docs_page, openapi_json, asset], include_in_schema=False)
