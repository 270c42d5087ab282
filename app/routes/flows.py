"""Helpers shared by the ReMe-compatible flow handlers."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Response

from app.logging import current_request_id
from app.routes.schemas import ReMeResponse


def reme_answer(answer: str = "", *, success: bool = True, **metadata: Any) -> ReMeResponse:
    """ReMe's envelope with the request id added to the metadata."""
    metadata.setdefault("request_id", current_request_id())
    return ReMeResponse(answer=answer, success=success, metadata=metadata)


def accepted(job_id: uuid.UUID, flow: str) -> Response[ReMeResponse]:
    """202 for a request taken in ``async_mode``: poll ``GET /v1/jobs/{job_id}``."""
    body = reme_answer(
        f"accepted: {flow} runs as job {job_id}; poll /v1/jobs/{job_id}",
        job_id=str(job_id),
        status="queued",
    )
    return Response(body, status_code=202)
