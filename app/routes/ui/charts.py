"""Console: pictures of a workspace: memory growth, and the freq/utility spread that pruning acts on."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.errors import InvalidInput
from app.models import MEMORY_TYPES
from app.routes.deps import ServicesDep
from app.routes.ui.common import ViewerDep, page, parse_float
from app.store.console import FREQ_BARS, RATIO_BARS, memory_growth, usage_distribution, workspace_overview
from app.ui.svg import stacked_bars

TYPE_COLOURS = {"task": "#3b6ea5", "personal": "#c4762b", "tool": "#5a9a5a"}
KEPT, PRUNED = "#8aa4c2", "#c0392b"
UNIT_FORMAT = {"day": "%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}


class ChartsController(Controller):
    path = "/w/{workspace_id:str}/charts"

    @get("/")
    async def index(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        viewer: ViewerDep,
        f: FromQuery[str | None] = None,
        u: FromQuery[str | None] = None,
    ) -> Template:
        viewer.require("read", workspace_id)
        freq_threshold = int(parse_float(f, "freq threshold") or services.settings.task.delete_freq_threshold)
        utility_threshold = parse_float(u, "utility threshold")
        if utility_threshold is None:
            utility_threshold = services.settings.task.delete_utility_threshold
        if freq_threshold < 1 or not 0 <= utility_threshold <= 1:
            raise InvalidInput("the freq threshold must be at least 1 and the utility threshold within 0..1")
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
            unit, growth = await memory_growth(session, workspace_id)
            usage = await usage_distribution(
                session, workspace_id, freq_threshold=freq_threshold, utility_threshold=utility_threshold
            )
        growth_chart = stacked_bars(
            f"New memories per {unit} (still stored)",
            [b.start.strftime(UNIT_FORMAT[unit]) for b in growth],
            [(t, TYPE_COLOURS[t], [b.by_type.get(t, 0) for b in growth]) for t in MEMORY_TYPES],
        )
        freq_labels = [str(i) if i < FREQ_BARS else f"{FREQ_BARS}+" for i in range(FREQ_BARS + 1)]
        freq_chart = stacked_bars(
            "Task memories by times retrieved (freq)",
            freq_labels,
            [
                ("kept", KEPT, [usage.by_freq.get(i, (0, 0))[0] for i in range(FREQ_BARS + 1)]),
                (
                    "pruning would remove",
                    PRUNED,
                    [usage.by_freq.get(i, (0, 0))[1] for i in range(FREQ_BARS + 1)],
                ),
            ],
        )
        ratio_labels = [f"{i / RATIO_BARS:.1f}" for i in range(RATIO_BARS)]
        ratio_chart = stacked_bars(
            "Used task memories by share of uses that helped (utility/freq)",
            ratio_labels,
            [
                ("kept", KEPT, [usage.by_ratio.get(i, (0, 0))[0] for i in range(RATIO_BARS)]),
                (
                    "pruning would remove",
                    PRUNED,
                    [usage.by_ratio.get(i, (0, 0))[1] for i in range(RATIO_BARS)],
                ),
            ],
        )
        return page(
            "charts.html",
            viewer,
            workspace=overview,
            growth_chart=growth_chart,
            freq_chart=freq_chart,
            ratio_chart=ratio_chart,
            usage=usage,
            tab="charts",
        )
