"""Status of asynchronous jobs."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get
from litestar.params import FromPath

from app.errors import NotFound
from app.routes.deps import ServicesDep
from app.store.jobs import get_job, job_to_dict


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get("/{job_id:uuid}", summary="Status, result or error of an asynchronous job")
    async def get_job(self, job_id: FromPath[uuid.UUID], services: ServicesDep) -> dict[str, Any]:
        async with services.db.session() as session:
            job = await get_job(session, job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id}")
        return job_to_dict(job)
