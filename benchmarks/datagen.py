"""Synthetic, deterministic task memories and queries in ReMe's dump format.

Sentences come from templates over a vocabulary of apps, actions, objects, pitfalls and
advice, so memories share words in realistic proportions (the stand-in's embeddings are
bags of words: shared words mean nearby vectors). A tenth of each workspace is personal
memories, so a type filter has rows to exclude; ``time_created`` spans a year, so a time
filter has rows to exclude.

    python -m benchmarks.datagen OUT_DIR WORKSPACE COUNT [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

APPS = [
    "spotify", "venmo", "gmail", "calendar", "file system", "simple note", "amazon", "phone",
    "splitwise", "todoist", "slack", "github", "jira", "dropbox", "uber", "airbnb", "zoom",
    "outlook", "trello", "notion", "shopify", "stripe", "weather", "maps",
]  # fmt: skip
ACTIONS = [
    "listing", "searching", "filtering", "sorting", "downloading", "uploading", "deleting",
    "updating", "paginating through", "aggregating", "exporting", "importing", "matching",
    "deduplicating", "scheduling", "summarising", "comparing", "validating", "renaming",
    "archiving", "sharing", "counting", "grouping", "merging",
]  # fmt: skip
OBJECTS = [
    "songs", "playlists", "transactions", "emails", "contacts", "events", "files", "notes",
    "orders", "tasks", "messages", "invoices", "reviews", "repositories", "issues", "payments",
    "bookings", "meetings", "albums", "receipts", "subscriptions", "attachments", "comments",
    "folders", "followers", "reminders", "addresses", "products",
]  # fmt: skip
QUALIFIERS = [
    "that span several pages", "with optional parameters", "owned by another user",
    "created in the last month", "with missing fields", "in a different time zone",
    "returned in arbitrary order", "that need an access token", "with duplicate names",
    "with nested structures", "that exceed the page size", "matching a date range",
    "tagged with a label", "shared with friends", "from a paginated endpoint",
]  # fmt: skip
PITFALLS = [
    "a missing page parameter", "an expired access token", "off-by-one pagination",
    "mixing local and UTC times", "case-sensitive name matching", "silently truncated results",
    "an empty response treated as success", "a stale cached value", "rate limiting",
    "ambiguous identifiers", "unhandled null fields", "string versus integer ids",
    "rounding of currency amounts", "duplicate entries", "partial failures in a batch",
]  # fmt: skip
ADVICE = [
    "read the API documentation", "log in and keep the token", "loop until a page comes back empty",
    "normalise names to lower case", "convert all times to UTC", "check the response status",
    "collect ids first and fetch details after", "verify the totals against a second call",
    "store intermediate results in a variable", "print a sample of the response",
    "filter on the server when the API allows it", "sort explicitly before picking the first",
    "retry once after a short wait", "compare against the task statement", "test with a small input",
]  # fmt: skip
CONSEQUENCES = [
    "the answer misses items", "the task fails silently", "totals come out wrong",
    "the wrong record is changed", "the call is rejected", "the agent loops forever",
    "the result is incomplete", "the evaluation marks the run as failed",
]  # fmt: skip
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PREFERENCES = [
    "prefers short answers", "likes jazz playlists", "works from Berlin", "travels every March",
    "is allergic to peanuts", "runs on weekends", "uses a standing desk", "reads science fiction",
    "drinks green tea", "plays chess online", "has two cats", "learns Spanish",
]  # fmt: skip

WHEN_TEMPLATES = [
    "When {action} {object} in the {app} API {qualifier}.",
    "When a task asks for {action} {object} {qualifier}.",
    "When {action} {object} from {app} and {action2} {object2}.",
    "When the {app} task involves {object} {qualifier} and {pitfall} is possible.",
]
CONTENT_TEMPLATES = [
    "Always {advice} before {action} {object}; otherwise {pitfall} means {consequence}.",
    "{Advice} when working with {app} {object}: {pitfall} is common and {consequence}.",
    "First {advice}, then {advice2}. Watch for {pitfall} with {object}.",
    "In {app}, {object} {qualifier} need care: {advice}, and {advice2}, or {consequence}.",
]
QUERY_TEMPLATES = [
    "how do I handle {action} {object} in {app}",
    "{action} {object} {qualifier} using the {app} API",
    "task: find {object} in {app} {qualifier}",
    "avoid {pitfall} when {action} {object}",
]

EPOCH = datetime(2025, 1, 1)
SPAN_DAYS = 365


def _fill(template: str, rng: random.Random) -> str:
    values = {
        "app": rng.choice(APPS),
        "action": rng.choice(ACTIONS),
        "action2": rng.choice(ACTIONS),
        "object": rng.choice(OBJECTS),
        "object2": rng.choice(OBJECTS),
        "qualifier": rng.choice(QUALIFIERS),
        "pitfall": rng.choice(PITFALLS),
        "advice": rng.choice(ADVICE),
        "advice2": rng.choice(ADVICE),
        "consequence": rng.choice(CONSEQUENCES),
    }
    values["Advice"] = values["advice"][:1].upper() + values["advice"][1:]
    return template.format(**values)


def memory_time(rng: random.Random) -> datetime:
    return EPOCH + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))


def generate(
    workspace_id: str, count: int, seed: int = 7, personal_share: float = 0.1
) -> Iterator[dict[str, Any]]:
    """``count`` memories in ReMe's dump format; the same arguments give the same lines."""
    rng = random.Random(f"{seed}:{workspace_id}")
    for _ in range(count):
        created = memory_time(rng).strftime("%Y-%m-%d %H:%M:%S")
        memory_id = uuid.UUID(int=rng.getrandbits(128)).hex
        if rng.random() < personal_share:
            user = rng.choice(USERS)
            content = f"{user} {rng.choice(PREFERENCES)} and {rng.choice(PREFERENCES)}"
            yield {
                "workspace_id": workspace_id,
                "memory_id": memory_id,
                "memory_type": "personal",
                "when_to_use": f"questions about {user}",
                "content": content,
                "target": user,
                "reflection_subject": "",
                "score": round(rng.random(), 3),
                "time_created": created,
                "time_modified": created,
                "author": "bench",
                "metadata": {},
            }
            continue
        yield {
            "workspace_id": workspace_id,
            "memory_id": memory_id,
            "memory_type": "task",
            "when_to_use": _fill(rng.choice(WHEN_TEMPLATES), rng),
            "content": _fill(rng.choice(CONTENT_TEMPLATES), rng),
            "score": round(rng.random(), 3),
            "time_created": created,
            "time_modified": created,
            "author": "bench",
            "metadata": {"tags": rng.sample(OBJECTS, 2)},
        }


def queries(count: int, seed: int = 11) -> list[str]:
    """Retrieval queries drawn from the same vocabulary (a different stream from the memories)."""
    rng = random.Random(f"queries:{seed}")
    return [_fill(rng.choice(QUERY_TEMPLATES), rng) for _ in range(count)]


def write_workspace_file(directory: Path, workspace_id: str, count: int, seed: int = 7) -> Path:
    """``<directory>/<workspace_id>.jsonl``, the file ReMe's and our ``vector_store`` load read."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{workspace_id}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for record in generate(workspace_id, count, seed):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="write synthetic memories in ReMe's dump format")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("workspace_id")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(write_workspace_file(args.out_dir, args.workspace_id, args.count, args.seed))


if __name__ == "__main__":
    main()
