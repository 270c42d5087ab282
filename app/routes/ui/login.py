"""Console: the login form that stores an API key in an HttpOnly cookie, and logout."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template

from app.auth import find_principal
from app.routes.deps import ServicesDep
from app.routes.ui.common import Form
from app.routes.ui.session import Viewer, cleared_key_cookie, csrf_token, key_cookie


def safe_next(target: str | None) -> str:
    """Only a console path: never send a freshly logged-in browser to another site."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui"


class LoginController(Controller):
    path = "/"

    @get("/login")
    async def form(
        self, request: Request[Any, Any, Any], services: ServicesDep, next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        if not services.settings.auth.enabled:
            return Redirect(path=safe_next(next), status_code=303)
        return self._form(request, next, None, 200)

    @post("/login")
    async def login(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: Form
    ) -> Response[Any]:
        target = safe_next(str(data.get("next") or ""))
        key = str(data.get("key", "")).strip()
        principal = None
        if key:
            async with services.db.session() as session:
                principal = await find_principal(session, key)
        if principal is None:
            return self._form(request, target, "That key is unknown or was revoked.", 401)
        secure = request.url.scheme == "https"
        return Redirect(path=target, status_code=303, cookies=[key_cookie(key, secure=secure)])

    @post("/logout")
    async def logout(self) -> Redirect:
        return Redirect(path="/ui/login", status_code=303, cookies=[cleared_key_cookie()])

    @staticmethod
    def _form(
        request: Request[Any, Any, Any], target: str | None, error: str | None, status: int
    ) -> Template:
        viewer = Viewer(None, True, csrf_token(request))
        return Template(
            template_name="login.html",
            context={
                "viewer": viewer,
                "csrf_token": viewer.csrf_token,
                "next": safe_next(target),
                "error": error,
                "anonymous": True,
            },
            status_code=status,
        )
