"""Property-based fuzzing of every documented operation with schemathesis.

Bounded (a few examples per operation, derandomised) so it runs quickly in CI. For each
operation: no 5xx, and responses match their documented schema.
"""

from __future__ import annotations

import asyncio

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.support.server import RunningServer

EXAMPLES_PER_OPERATION = 12


def fuzz_operation(operation: schemathesis.APIOperation, base_url: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=base_url, checks=[not_a_server_error, response_schema_conformance], timeout=30
        )

    run()


async def test_no_operation_answers_5xx_or_breaks_its_schema(
    app_server: RunningServer, client: httpx.AsyncClient
) -> None:
    schema = schemathesis.openapi.from_url(f"{app_server.base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the schema lists too few operations to be ours"

    for operation in operations:
        await asyncio.to_thread(fuzz_operation, operation, app_server.base_url)
