"""The memory library shipped with the package: list it, load one into a workspace."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from app.library import LIBRARY, library_target, load_library
from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.schemas.flow import WorkspaceId


class LibraryOut(BaseModel):
    name: str
    description: str
    memory_count: int


class LibraryList(BaseModel):
    items: list[LibraryOut]


class LibraryLoad(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_id: WorkspaceId | None = Field(
        default=None, description="target workspace (default: the library's name)"
    )
    replace: bool = Field(
        default=False,
        description="make the library the workspace's only memories (default: add, replacing same ids)",
    )


class LibraryLoaded(BaseModel):
    library: str
    workspace_id: str
    loaded: int
    replaced: bool


class LibraryController(Controller):
    path = "/library"
    tags = ["library"]

    @get("/", summary="The memory libraries shipped with the service (ReMe's AppWorld and BFCL v3)")
    async def index(self) -> LibraryList:
        return LibraryList(
            items=[
                LibraryOut(name=e.name, description=e.description, memory_count=e.memory_count)
                for e in LIBRARY.values()
            ]
        )

    @post(
        "/{name:str}/load",
        summary="Load a library into a workspace (embedded with the configured model)",
        status_code=200,
    )
    async def load(
        self, name: FromPath[str], services: ServicesDep, data: JSONBody[LibraryLoad | None] = None
    ) -> LibraryLoaded:
        request = data or LibraryLoad()
        target = library_target(name, request.workspace_id)
        count = await load_library(services, target, replace=request.replace, request_id=current_request_id())
        return LibraryLoaded(
            library=target.entry.name,
            workspace_id=target.workspace_id,
            loaded=count,
            replaced=request.replace,
        )
