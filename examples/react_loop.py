"""Let the ReMe service itself answer tasks with what it has learnt (``react``), as ReMe's demos do.

For each task, ``react`` has the service's chat model answer with the most relevant task memories
in its context; the run is then scored, the memories it was given are told whether they helped
(``record_task_memory``), and the conversation goes back to ``summary_task_memory`` to learn from.
Only the service needs a chat model; this script needs nothing but the client:

    export REME_BASE_URL=http://127.0.0.1:8002     # a service started with REME_LLM__* set
    python examples/react_loop.py "Research Xiaomi for an investment memo" "Research Tesla too"

Needs ``pip install ./clients/python``.
"""

from __future__ import annotations

import argparse
import uuid

from reme_client import ReMeClient


def evaluate(task: str, answer: str) -> float:
    """How well the run went, 0 to 1. Replace with your own checker (tests, a reward, a user's rating)."""
    return 1.0 if answer.strip() else 0.0


def run_task(reme: ReMeClient, workspace: str, task: str) -> float:
    result = reme.react(workspace, task, top_k=3)
    score = evaluate(task, result.answer)

    if result.memory_list:
        reme.record_task_memory(workspace, result.memory_list, update_utility=score >= 0.5)
    learnt = reme.summary_task_memory(workspace, [result.as_trajectory(score, task_id=uuid.uuid4().hex)])
    print(f"task: {task}")
    print(f"  answer: {result.answer}")
    print(
        f"  memories used: {len(result.memory_list)}, score: {score}, new memories: {len(learnt.memory_list)}"
    )
    return score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tasks", nargs="+", help="the tasks to run, in order")
    parser.add_argument("--workspace", default="react_loop_demo")
    args = parser.parse_args(argv)

    with ReMeClient() as reme:
        for task in args.tasks:
            run_task(reme, args.workspace, task)


if __name__ == "__main__":
    main()
