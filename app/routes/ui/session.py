"""Who is looking at the console, and the checks that protect its forms.

With ``REME_AUTH__ENABLED`` the console asks for an API key once (the login form) and keeps it
in an HttpOnly, SameSite=Lax cookie scoped to ``/ui``; every page then shows only what that
key may read, and every write needs a write key, exactly as the API decides (``app.auth``).
The API itself never accepts the cookie: only the console's own routes read it.

Forms are protected against cross-site requests by a double-submit token: a random value in a
SameSite cookie that every form (and the upload script, as a header) sends back, compared in
constant time, plus an Origin check when the browser sends one.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import Principal, find_principal
from app.errors import Forbidden, Unauthorized
from app.routes.deps import ServicesDep

KEY_COOKIE = "reme_console_key"
CSRF_COOKIE = "reme_console_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
STATE_CSRF = "console_csrf"
UI_PATH = "/ui"


class LoginRequired(Unauthorized):
    """The console needs a key (auth is enabled and the cookie is missing, unknown or revoked)."""


@dataclass(frozen=True)
class Viewer:
    """The person using the console: everything when auth is off, else what their key allows."""

    principal: Principal | None
    auth_enabled: bool
    csrf_token: str

    def can(self, scope: str, workspace_id: str | None = None) -> bool:
        if not self.auth_enabled:
            return True
        return self.principal is not None and self.principal.can(scope, workspace_id)

    def require(self, scope: str, workspace_id: str | None = None) -> None:
        if not self.can(scope, workspace_id):
            name = self.principal.name if self.principal else "anonymous"
            where = f"workspace {workspace_id!r}" if workspace_id else "every workspace"
            raise Forbidden(f"key {name!r} may not {scope} {where}")

    @property
    def only(self) -> frozenset[str] | None:
        """The workspaces this viewer may see; None means all of them."""
        if not self.auth_enabled or self.principal is None:
            return None
        return self.principal.workspaces


def csrf_token(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get(STATE_CSRF, ""))


async def provide_viewer(request: Request[Any, Any, Any], services: ServicesDep) -> Viewer:
    token = csrf_token(request)
    if not services.settings.auth.enabled:
        return Viewer(None, False, token)
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise LoginRequired("the console needs an API key")
    async with services.db.session() as session:
        principal = await find_principal(session, key)
    if principal is None:
        raise LoginRequired("the console's API key is unknown or was revoked")
    return Viewer(principal, True, token)


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """before_request of every console route: unsafe methods must carry the form token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden(f"cross-site request from {origin} refused")
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type[0] in (
        RequestEncodingType.URL_ENCODED,
        RequestEncodingType.MULTI_PART,
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise Forbidden("the form's security token is missing or stale: reload the page and try again")
    return None


def key_cookie(key: str, *, secure: bool) -> Cookie:
    return Cookie(key=KEY_COOKIE, value=key, path=UI_PATH, httponly=True, samesite="lax", secure=secure)


def cleared_key_cookie() -> Cookie:
    return Cookie(key=KEY_COOKIE, value="", path=UI_PATH, httponly=True, samesite="lax", max_age=0)


class CSRFCookie:
    """ASGI middleware of the console: makes sure the browser holds a form token, and tells routes which."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _cookie(scope, CSRF_COOKIE)
        fresh = token is None
        token = token or secrets.token_urlsafe(32)
        scope.setdefault("state", {})[STATE_CSRF] = token  # type: ignore[typeddict-unknown-key]
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                cookie = Cookie(
                    key=CSRF_COOKIE,
                    value=token,
                    path=UI_PATH,
                    httponly=True,
                    samesite="lax",
                    secure=secure,
                )
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", cookie.to_header(header="").strip().encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope.get("headers", []):
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == name and found:
                    return found
    return None
