"""What every console page shares: the page helper, the viewer dependency, HTML error pages."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import Body
from litestar.response import Redirect, Template

from app.errors import ReMeError
from app.routes.ui.session import LoginRequired, Viewer, csrf_token
from app.ui.forms import optional, parse_float, parse_when

log = logging.getLogger(__name__)

ViewerDep = NamedDependency[Viewer]
# The fields of a console form (a plain HTML form post).
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE_SIZE = 50
__all__ = ["PAGE_SIZE", "Form", "ViewerDep", "optional", "page", "parse_float", "parse_when"]


def page(template: str, viewer: Viewer, *, status_code: int = 200, **context: Any) -> Template:
    """Render a console page; every template gets the viewer and the form token."""
    return Template(
        template_name=template,
        context={"viewer": viewer, "csrf_token": viewer.csrf_token, **context},
        status_code=status_code,
    )


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    viewer = Viewer(None, False, csrf_token(request))
    return page("error.html", viewer, status_code=status, status=status, message=message, anonymous=True)


def handle_login_required(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        return _error_page(request, 401, exc.message)
    return Redirect(path=f"/ui/login?next={quote(target, safe='')}", status_code=303)


def handle_reme_error(request: Request[Any, Any, Any], exc: ReMeError) -> Response[Any]:
    if exc.status_code >= 500:
        log.warning("%s: %s", type(exc).__name__, exc.message)
    return _error_page(request, exc.status_code, exc.message)


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    where = "; ".join(
        f"{item.get('key')}: {item.get('message')}" for item in (exc.extra or []) if isinstance(item, dict)
    )
    return _error_page(request, 400, f"invalid request: {where or exc.detail}")


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _error_page(request, exc.status_code, str(exc.detail))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error_page(
        request, 500, f"internal error ({type(exc).__name__}); see the server log, request id included"
    )


UI_EXCEPTION_HANDLERS: dict[Any, Any] = {
    LoginRequired: handle_login_required,
    ReMeError: handle_reme_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    Exception: handle_unexpected,
}
