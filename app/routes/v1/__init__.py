"""The resource-style REST API under /v1."""

from __future__ import annotations

from litestar import Router

from app.routes.v1.jobs import JobController
from app.routes.v1.library import LibraryController
from app.routes.v1.memories import MemoryController
from app.routes.v1.search import SearchController
from app.routes.v1.trajectories import TrajectoryController
from app.routes.v1.transfer import TransferController
from app.routes.v1.workspaces import WorkspaceController


def v1_router() -> Router:
    return Router(
        path="/v1",
        route_handlers=[
            JobController,
            LibraryController,
            WorkspaceController,
            MemoryController,
            SearchController,
            TrajectoryController,
            TransferController,
        ],
        tags=["v1"],
    )
