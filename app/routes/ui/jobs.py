"""Console: the asynchronous job queue by status, with errors, and retry of failed jobs."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.errors import InvalidInput
from app.models import JOB_STATUSES
from app.routes.deps import ServicesDep
from app.routes.ui.common import PAGE_SIZE, ViewerDep, optional, page
from app.store.console_jobs import find_job, job_counts, list_jobs, retry_job


class JobsController(Controller):
    path = "/jobs"

    @get("/")
    async def index(
        self,
        services: ServicesDep,
        viewer: ViewerDep,
        status: FromQuery[str] = "queued",
        cursor: FromQuery[str | None] = None,
        retried: FromQuery[str | None] = None,
    ) -> Template:
        if status not in JOB_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(JOB_STATUSES)}, not {status!r}")
        async with services.db.session() as session:
            counts = await job_counts(session, viewer.only)
            found = await list_jobs(
                session, status, limit=PAGE_SIZE, cursor=optional(cursor), only=viewer.only
            )
        return page(
            "jobs.html",
            viewer,
            status=status,
            statuses=JOB_STATUSES,
            counts=counts,
            jobs=found.items,
            next_cursor=found.next_cursor,
            paged=bool(optional(cursor)),
            notice=f"Job {retried} queued again." if retried else None,
        )

    @post("/{job_id:uuid}/retry")
    async def retry(self, job_id: FromPath[uuid.UUID], services: ServicesDep, viewer: ViewerDep) -> Redirect:
        async with services.db.session() as session:
            job = await find_job(session, job_id)
            viewer.require("write", job.workspace_id)
            await retry_job(session, job_id)
        return Redirect(path=f"/ui/jobs?status=failed&retried={job_id}", status_code=303)
