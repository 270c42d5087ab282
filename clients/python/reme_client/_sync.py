"""``ReMeClient``: the blocking client. Every request method is a ``Call`` builder sent by ``send``."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from reme_client import _flow_calls as flows
from reme_client import _v1_calls as v1
from reme_client._core import Call, Settings, ndjson_line, raise_for_answer, transport_error
from reme_client.errors import JobFailedError, JobTimeoutError
from reme_client.models.v1 import ImportResult, Job, Memory, MemoryType, Order, Trajectory, Workspace

P = ParamSpec("P")
T = TypeVar("T")
Item = TypeVar("Item")


def _sent(builder: Callable[P, Call[T]]) -> Callable[Concatenate[ReMeClient, P], T]:
    """A client method with the builder's signature and docstring that sends its call."""

    @functools.wraps(builder)
    def method(self: ReMeClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(builder(*args, **kwargs))

    return method


class ReMeClient:
    """A client of the ReMe service. ``base_url`` defaults to ``REME_BASE_URL`` (else
    http://127.0.0.1:8002), ``api_key`` to ``REME_API_KEY``. 503/504 answers and connection failures
    are retried ``max_retries`` times with exponential backoff; other errors raise at once."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.settings = Settings.of(base_url, api_key, timeout, max_retries, backoff, headers)
        self._http = http_client or httpx.Client(timeout=self.settings.timeout)
        self._owns_http = http_client is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ReMeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, call: Call[T]) -> T:
        """Send one call, retrying as the retry policy allows, and read its answer."""
        retry, attempt = self.settings.retry, 0
        while True:
            try:
                response = self._request(call)
            except httpx.TransportError as error:
                delay = retry.after_error(attempt, call, error)
                if delay is None:
                    raise transport_error(error, call, self.settings.base_url) from error
            else:
                delay = retry.after_status(attempt, call, response)
                if delay is None:
                    return call.answer(response)
            time.sleep(delay)
            attempt += 1

    def _request(self, call: Call[Any]) -> httpx.Response:
        return self._http.request(
            call.method,
            self.settings.base_url + call.path,
            params=call.params,
            json=call.json,
            content=call.content,
            headers={**self.settings.headers, **(call.headers or {})},
            timeout=self.settings.timeout,
        )

    # ReMe-compatible flows
    summary_task_memory = _sent(flows.summary_task_memory)
    submit_summary_task_memory = _sent(flows.submit_summary_task_memory)
    summary_task_memory_simple = _sent(flows.summary_task_memory_simple)
    submit_summary_task_memory_simple = _sent(flows.submit_summary_task_memory_simple)
    retrieve_task_memory = _sent(flows.retrieve_task_memory)
    retrieve_task_memory_simple = _sent(flows.retrieve_task_memory_simple)
    record_task_memory = _sent(flows.record_task_memory)
    delete_task_memory = _sent(flows.delete_task_memory)
    react = _sent(flows.react)
    summary_personal_memory = _sent(flows.summary_personal_memory)
    submit_summary_personal_memory = _sent(flows.submit_summary_personal_memory)
    retrieve_personal_memory = _sent(flows.retrieve_personal_memory)
    add_tool_call_result = _sent(flows.add_tool_call_result)
    submit_add_tool_call_result = _sent(flows.submit_add_tool_call_result)
    summary_tool_memory = _sent(flows.summary_tool_memory)
    submit_summary_tool_memory = _sent(flows.submit_summary_tool_memory)
    retrieve_tool_memory = _sent(flows.retrieve_tool_memory)
    vector_store = _sent(flows.vector_store)
    list_flows = _sent(flows.list_flows)

    # /v1
    health = _sent(v1.health)
    ready = _sent(v1.ready)
    list_workspaces = _sent(v1.list_workspaces)
    create_workspace = _sent(v1.create_workspace)
    workspace_stats = _sent(v1.workspace_stats)
    delete_workspace = _sent(v1.delete_workspace)
    add_memories = _sent(v1.add_memories)
    list_memories = _sent(v1.list_memories)
    get_memory = _sent(v1.get_memory)
    patch_memory = _sent(v1.patch_memory)
    delete_memory = _sent(v1.delete_memory)
    memory_history = _sent(v1.memory_history)
    search = _sent(v1.search)
    list_trajectories = _sent(v1.list_trajectories)
    get_trajectory = _sent(v1.get_trajectory)
    retry_trajectory = _sent(v1.retry_trajectory)
    get_job = _sent(v1.get_job)
    list_libraries = _sent(v1.list_libraries)
    load_library = _sent(v1.load_library)

    def _follow(self, page: Callable[[str | None], Call[Any]]) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            result = self.send(page(cursor))
            yield from result.items
            cursor = result.next_cursor
            if cursor is None:
                return

    def iter_workspaces(self, *, page_size: int = 100) -> Iterator[Workspace]:
        """Every workspace, fetching pages of ``page_size`` as the iteration goes."""
        return self._follow(lambda cursor: v1.list_workspaces(limit=page_size, cursor=cursor))

    def iter_memories(
        self,
        workspace_id: str,
        *,
        page_size: int = 100,
        memory_type: MemoryType | None = None,
        target: str | None = None,
        min_score: float | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        order: Order | None = None,
    ) -> Iterator[Memory]:
        """Every memory of a workspace (filtered), following the cursors page by page."""
        return self._follow(
            lambda cursor: v1.list_memories(
                workspace_id,
                memory_type=memory_type,
                target=target,
                min_score=min_score,
                created_after=created_after,
                created_before=created_before,
                order=order,
                limit=page_size,
                cursor=cursor,
            )
        )

    def iter_trajectories(
        self, workspace_id: str, *, page_size: int = 100, kind: str | None = None, status: str | None = None
    ) -> Iterator[Trajectory]:
        """Every trajectory of a workspace, newest first, following the cursors."""
        return self._follow(
            lambda cursor: v1.list_trajectories(
                workspace_id, kind=kind, status=status, limit=page_size, cursor=cursor
            )
        )

    def wait_for_job(
        self, job_id: uuid.UUID | str, *, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> Job:
        """Poll a job until it is ``done`` (returned) or ``failed`` (``JobFailedError``); a
        ``JobTimeoutError`` when it is still running after ``timeout`` seconds."""
        started = time.monotonic()
        while True:
            job = self.get_job(job_id)
            if job.status == "done":
                return job
            if job.status == "failed":
                raise JobFailedError(job)
            waited = time.monotonic() - started
            if waited >= timeout:
                raise JobTimeoutError(job, waited)
            time.sleep(min(poll_interval, timeout - waited))

    def export_workspace(
        self, workspace_id: str, *, include_embeddings: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Stream a workspace's memories (NDJSON, oldest first) as dicts, without holding them all."""
        call = v1.export_workspace(workspace_id, include_embeddings=include_embeddings)
        url = self.settings.base_url + call.path
        with self._http.stream(
            "GET", url, params=call.params, headers=self.settings.headers, timeout=self.settings.timeout
        ) as response:
            if not response.is_success:
                response.read()
                raise_for_answer(response)
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def import_memories(
        self,
        workspace_id: str,
        memories: Iterable[Mapping[str, Any] | str | bytes] | bytes,
        *,
        replace: bool = False,
    ) -> ImportResult:
        """Import memories (dicts, NDJSON lines, or a whole NDJSON body as bytes), streamed to the
        service; all or nothing. ``replace=True`` makes the workspace hold exactly these memories."""
        content = memories if isinstance(memories, bytes) else (ndjson_line(m) for m in memories)
        return self.send(v1.import_memories(workspace_id, content, replace=replace))
