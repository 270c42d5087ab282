"""A chat loop that remembers its user, with ReMe personal memory (asyncio client).

Each message of the user is answered with what ReMe knows about them in the system prompt
(``retrieve_personal_memory``, which also understands "last weekend"); when the chat ends, the
conversation goes to ReMe, which reads new facts and reconciles them with the known ones
(``summary_personal_memory``). Type messages, one per line; an empty line or end of input ends
the chat.

    export REME_BASE_URL=http://127.0.0.1:8002
    export OPENAI_BASE_URL=https://api.example.com/v1 OPENAI_API_KEY=sk-... OPENAI_MODEL=qwen-plus
    python examples/chat_with_memory.py --user alice

Needs ``pip install ./clients/python openai``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from openai import AsyncOpenAI
from reme_client import AsyncReMeClient

SYSTEM = "You are a friendly assistant. Use what you know about the user when it helps."


async def reply(
    reme: AsyncReMeClient,
    llm: AsyncOpenAI,
    model: str,
    workspace: str,
    user: str,
    history: list[dict[str, Any]],
) -> str:
    known = await reme.retrieve_personal_memory(workspace, history[-1]["content"], user_name=user, top_k=5)
    system = SYSTEM
    if known.memory_list:
        system += f"\n\nWhat you know about {user}:\n" + "\n".join(
            f"- {m.content}" for m in known.memory_list
        )
    # The chat model gets role and content only; ReMe also reads when each message was said.
    said = [{"role": m["role"], "content": m["content"]} for m in history]
    messages = [{"role": "system", "content": system}, *said]
    answer = await llm.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


async def chat(workspace: str, user: str, model: str) -> None:
    llm = AsyncOpenAI()
    history: list[dict[str, Any]] = []
    async with AsyncReMeClient() as reme:
        for line in sys.stdin:
            if not line.strip():
                break
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            history.append({"role": "user", "content": line.strip(), "time_created": now})
            answer = await reply(reme, llm, model, workspace, user, history)
            history.append({"role": "assistant", "content": answer})
            print(f"assistant: {answer}", flush=True)
        if history:
            learnt = await reme.summary_personal_memory(workspace, [{"messages": history}], user_name=user)
            print(f"remembered {len(learnt.memory_list)} fact(s) about {user}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", default="chat_demo")
    parser.add_argument("--user", default="user")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    args = parser.parse_args(argv)
    asyncio.run(chat(args.workspace, args.user, args.model))


if __name__ == "__main__":
    main()
