"""The memory console at /ui: server-rendered pages over the same data layer as the API."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.routes.ui.charts import ChartsController
from app.routes.ui.common import UI_EXCEPTION_HANDLERS
from app.routes.ui.jobs import JobsController
from app.routes.ui.library import LibraryController
from app.routes.ui.login import LoginController
from app.routes.ui.memories import MemoriesController
from app.routes.ui.session import CSRFCookie, check_csrf, provide_viewer
from app.routes.ui.tools import ToolsController
from app.routes.ui.trajectories import TrajectoriesController
from app.routes.ui.transfer import TransferController
from app.routes.ui.workspaces import WorkspacesController
from app.ui import STATIC_DIR, TEMPLATES_DIR
from app.ui.format import FILTERS, query


def ui_router() -> Router:
    return Router(
        path="/ui",
        route_handlers=[
            LoginController,
            WorkspacesController,
            MemoriesController,
            TrajectoriesController,
            ToolsController,
            ChartsController,
            TransferController,
            LibraryController,
            JobsController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="ui-static"),
        ],
        dependencies={"viewer": Provide(provide_viewer)},
        exception_handlers=UI_EXCEPTION_HANDLERS,
        before_request=check_csrf,
        middleware=[DefineMiddleware(CSRFCookie)],
        include_in_schema=False,
    )


def _register_filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(FILTERS)
    engine.engine.globals["query"] = query


def ui_template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_register_filters
    )
