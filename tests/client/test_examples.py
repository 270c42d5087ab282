"""The examples run as a user runs them, against the live service, with the stand-in as every
chat model (the agent's own and the service's)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from reme_client import ReMeClient

from tests.integration.task_support import SUCCESS, responder, trajectory
from tests.integration.test_personal_summary import ScriptedPersonalModel, fact
from tests.support.server import RunningServer
from tests.support.standin import StandInOpenAI, schema_name

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
AGENT_REPLY = "I compared the options, including fees, and picked the cheapest."


def with_plain_replies(flow_answers: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """The service's steps get their scripted answers; the example's own chat gets a plain reply."""

    def answer(request: dict[str, Any]) -> Any:
        return flow_answers(request) if schema_name(request) else AGENT_REPLY

    return answer


async def run_example(
    script: str, app_server: RunningServer, standin: StandInOpenAI, *args: str, stdin: str = ""
) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "clients" / "python"),
        "REME_BASE_URL": app_server.base_url,
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stand-in",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode == 0, output.decode()
    return output.decode()


def agent_prompts(standin: StandInOpenAI) -> list[str]:
    """The system prompts of the example's own chat requests (not the service's steps)."""
    return [r["messages"][0]["content"] for r in standin.chat_requests if not schema_name(r)]


async def test_the_agent_loop_uses_what_it_learnt_and_records_that_it_helped(
    app_server: RunningServer, standin: StandInOpenAI, client: httpx.AsyncClient
) -> None:
    standin.responder = with_plain_replies(responder(failure=[], comparative=[]))
    tasks = ["Research Xiaomi for an investment overview", "Research Tesla for an investment overview"]

    output = await run_example("agent_loop.py", app_server, standin, *tasks, "--workspace", "demo")

    first, second = agent_prompts(standin)
    advice = str(SUCCESS["content"])
    assert advice not in first and advice in second
    with ReMeClient(app_server.base_url) as reme:
        [memory] = list(reme.iter_memories("demo"))
    assert memory.when_to_use == SUCCESS["when_to_use"]
    assert (memory.freq, memory.utility) == (1, 1)
    assert "advice used: 1, score: 1.0" in output


async def test_the_react_loop_answers_with_what_the_service_learnt_and_records_that_it_helped(
    app_server: RunningServer, standin: StandInOpenAI, client: httpx.AsyncClient
) -> None:
    standin.responder = with_plain_replies(responder(failure=[], comparative=[]))
    tasks = ["Research Xiaomi for an investment overview", "Research Tesla for an investment overview"]

    output = await run_example("react_loop.py", app_server, standin, *tasks, "--workspace", "demo")

    first, second = agent_prompts(standin)
    advice = str(SUCCESS["content"])
    assert advice not in first and advice in second
    with ReMeClient(app_server.base_url) as reme:
        [memory] = list(reme.iter_memories("demo"))
    assert (memory.freq, memory.utility) == (1, 1)
    assert f"answer: {AGENT_REPLY}" in output and "memories used: 1, score: 1.0" in output


async def test_the_chat_loop_remembers_the_user_in_the_next_chat(
    app_server: RunningServer, standin: StandInOpenAI, client: httpx.AsyncClient
) -> None:
    said = "I have a cat named Shadow, she is 3"
    model = ScriptedPersonalModel().says(said, fact("alice has a cat named Shadow", ["cat", "Shadow"]))
    standin.responder = with_plain_replies(model)
    args = ("--workspace", "home", "--user", "alice")

    first = await run_example("chat_with_memory.py", app_server, standin, *args, stdin=said + "\n")
    second = await run_example(
        "chat_with_memory.py", app_server, standin, *args, stdin="What pet do I have?\n"
    )

    assert f"assistant: {AGENT_REPLY}" in first and "remembered 1 fact(s) about alice" in first
    assert "alice has a cat named Shadow" not in agent_prompts(standin)[0]
    assert "- alice has a cat named Shadow" in agent_prompts(standin)[1]
    assert "assistant:" in second


def reme_command() -> str:
    found = shutil.which("reme", path=str(Path(sys.executable).parent))
    assert found, "the reme command is installed with the service (pip install -e .)"
    return found


@pytest.mark.parametrize(
    "config", ["claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json", "windsurf_mcp_config.json"]
)
async def test_each_mcp_configuration_starts_a_server_that_runs_the_flows(
    config: str, standin: StandInOpenAI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    document = json.loads((EXAMPLES / "mcp" / config).read_text())
    entry = (document.get("mcpServers") or document["servers"])["reme"]
    test_values = {
        "REME_DATA_DIR": str(tmp_path),
        "REME_LLM__BASE_URL": standin.base_url,
        "REME_LLM__API_KEY": "test-key",
        "REME_LLM__MODEL": "stand-in",
    }
    assert set(entry["env"]) == set(test_values)
    env = {name: test_values[name] for name in entry["env"]}
    # The suite's database instead of a new embedded one in REME_DATA_DIR.
    env["REME_DATABASE_URL"] = database_url
    # As desktop clients do: only the env block beside a minimal environment (the mcp SDK adds it).
    params = StdioServerParameters(command=reme_command(), args=entry["args"], env=env)
    standin.responder = responder(failure=[], comparative=[])

    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await asyncio.wait_for(session.initialize(), timeout=120)
        learnt = await session.call_tool(
            "summary_task_memory_simple", {"workspace_id": "desk", "trajectories": [trajectory("t1", 1.0)]}
        )

    assert learnt.is_error is False, learnt.content
    assert learnt.structured_content is not None
    [memory] = learnt.structured_content["metadata"]["memory_list"]
    assert memory["when_to_use"] == SUCCESS["when_to_use"]
    assert len(standin.chat_requests) == 1  # the model settings came from the env block
