"""An agent that learns from its own runs with ReMe task memory.

Before each task it asks ReMe for advice from earlier runs and puts it in its prompt; after the task
it tells ReMe whether that advice helped (``record_task_memory``) and gives ReMe the scored run to
learn from (``summary_task_memory``). Run it against a service (``reme serve``, with a chat model
configured for the summaries) and any OpenAI-compatible chat model for the agent itself:

    export REME_BASE_URL=http://127.0.0.1:8002
    export OPENAI_BASE_URL=https://api.example.com/v1 OPENAI_API_KEY=sk-... OPENAI_MODEL=qwen-plus
    python examples/agent_loop.py "Find the cheapest flight to Oslo" "Find the cheapest train to Bergen"

Needs ``pip install ./clients/python openai``.
"""

from __future__ import annotations

import argparse
import os
import uuid
from typing import Any

from openai import OpenAI
from reme_client import ReMeClient
from reme_client.models.results import TaskRetrieveResult

SYSTEM = "You are a careful assistant agent. Complete the task and say what you did."


def prompt(task: str, advice: TaskRetrieveResult) -> list[dict[str, Any]]:
    """The agent's messages: its instructions, the advice found (if any), the task."""
    system = SYSTEM
    if advice.memory_list:
        system += "\n\n" + advice.answer
    return [{"role": "system", "content": system}, {"role": "user", "content": task}]


def evaluate(task: str, answer: str) -> float:
    """How well the run went, 0 to 1. Replace with your own checker (tests, a reward, a user's rating)."""
    return 1.0 if answer.strip() else 0.0


def run_task(reme: ReMeClient, llm: OpenAI, model: str, workspace: str, task: str) -> float:
    advice = reme.retrieve_task_memory_simple(workspace, task, top_k=3)
    messages = prompt(task, advice)
    reply = llm.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    answer = reply.choices[0].message.content or ""
    score = evaluate(task, answer)

    if advice.memory_list:
        reme.record_task_memory(workspace, advice.memory_list, update_utility=score >= 0.5)
    run = {
        "task_id": uuid.uuid4().hex,
        "score": score,
        "messages": [*messages[1:], {"role": "assistant", "content": answer}],
    }
    learnt = reme.summary_task_memory(workspace, [run])
    print(f"task: {task}")
    print(
        f"  advice used: {len(advice.memory_list)}, score: {score}, new memories: {len(learnt.memory_list)}"
    )
    return score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tasks", nargs="+", help="the tasks to run, in order")
    parser.add_argument("--workspace", default="agent_loop_demo")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    args = parser.parse_args(argv)

    llm = OpenAI()
    with ReMeClient() as reme:
        for task in args.tasks:
            run_task(reme, llm, args.model, args.workspace, task)
        # Now and then, drop the memories that keep failing to help.
        pruned = reme.delete_task_memory(args.workspace)
        print(f"pruned {len(pruned.deleted_memory_ids)} memories that did not help")


if __name__ == "__main__":
    main()
