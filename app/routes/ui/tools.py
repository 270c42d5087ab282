"""Console: tool memory per tool (success rate, time and token cost, recent calls, guideline)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.errors import NotFound
from app.routes.deps import ServicesDep
from app.routes.ui.common import ViewerDep, page
from app.store.console import tool_names, tool_success_by_day, workspace_overview
from app.store.tool import recent_tool_calls, tool_statistics
from app.store.tool_memory import find_tool_memories
from app.ui.svg import rate_line

RECENT_CALLS = 20


class ToolsController(Controller):
    path = "/w/{workspace_id:str}/tools"

    @get("/")
    async def index(self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep) -> Template:
        viewer.require("read", workspace_id)
        window = services.settings.tool.statistics_window
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
            names = await tool_names(session, workspace_id)
            stats = await tool_statistics(session, workspace_id, names, window)
            guidelines = await find_tool_memories(session, workspace_id, names)
        return page(
            "tools.html",
            viewer,
            workspace=overview,
            tools=[(name, stats.get(name), guidelines.get(name)) for name in names],
            window=window,
            tab="tools",
        )

    @get("/detail")
    async def show(
        self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep, name: FromQuery[str]
    ) -> Template:
        viewer.require("read", workspace_id)
        window = services.settings.tool.statistics_window
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
            stats = (await tool_statistics(session, workspace_id, [name], window)).get(name)
            guideline = (await find_tool_memories(session, workspace_id, [name])).get(name)
            calls = (await recent_tool_calls(session, workspace_id, [name], RECENT_CALLS)).get(name, [])
            days = await tool_success_by_day(session, workspace_id, name)
        if stats is None and guideline is None:
            raise NotFound(f"no tool {name!r} in workspace {workspace_id!r}")
        chart = rate_line(
            f"Success rate of {name} per day",
            [d.day.strftime("%m-%d") for d in days],
            [d.rate for d in days],
            [d.calls for d in days],
        )
        return page(
            "tool.html",
            viewer,
            workspace=overview,
            name=name,
            stats=stats,
            guideline=guideline,
            calls=list(reversed(calls)),
            chart=chart,
            window=window,
            tab="tools",
        )
