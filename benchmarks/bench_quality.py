"""Conversational recall of ``retrieve_personal_memory`` on LoCoMo-format data, beside baselines.

The protocol (docs/benchmarks.md, "Conversational recall"): one workspace per conversation,
every turn one personal memory loaded through ``vector_store`` load, every question of
categories 1-4 with evidence sent to ``POST /retrieve_personal_memory`` with no ``user_name``
and no chat model configured. A question counts for recall_any@k when one of its evidence turns
is among the first k memories returned, for recall_all@k when all of them are.

The baselines are computed here, exactly, over every turn of a conversation, with the same
MiniLM vectors the service uses, on "<speaker>: <text>": cosine, Okapi BM25 over lower-cased
words, and their reciprocal rank fusion (k=60).

The data set is not part of this repository (LoCoMo is CC BY-NC 4.0): download
``data/locomo10.json`` from the snap-research/LoCoMo repository and pass its path.

    python -m benchmarks.bench_quality --dataset PATH [--out FILE] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import (
    REPO,
    Process,
    clean_env,
    free_port,
    latency_summary,
    log,
    machine_info,
    spawn,
    wait_http,
    write_results,
)

KS = (5, 10, 20)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
EVIDENCE_RE = re.compile(r"D:?(\d+):(\d+)")
WORD_RE = re.compile(r"\w+")
RRF_K = 60
BM25_K1, BM25_B = 1.2, 0.75


@dataclass
class Turn:
    dia_id: str
    speaker: str
    text: str
    when: str  # "YYYY-mm-dd HH:MM:SS"

    @property
    def content(self) -> str:
        return f"{self.speaker}: {self.text}"


@dataclass
class Question:
    text: str
    category: int
    evidence: set[str]


@dataclass
class Conversation:
    workspace: str
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def memory_id(self, dia_id: str) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.workspace}/{dia_id}").hex


def session_time(value: str) -> str:
    """LoCoMo's "1:56 pm on 8 May, 2023" as "2023-05-08 13:56:00"."""
    parsed = datetime.strptime(value.strip(), "%I:%M %p on %d %B, %Y")
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def read_dataset(path: Path) -> list[Conversation]:
    out = []
    for sample in json.loads(path.read_text()):
        conv = Conversation(sample["sample_id"].replace("-", "_"))
        talk = sample["conversation"]
        sessions = sorted(
            (int(m.group(1)), key) for key in talk if (m := re.fullmatch(r"session_(\d+)", key))
        )
        for _, key in sessions:
            when = session_time(talk[f"{key}_date_time"])
            for turn in talk[key]:
                conv.turns.append(Turn(turn["dia_id"], turn["speaker"], turn["text"], when))
        known = {t.dia_id for t in conv.turns}
        for qa in sample["qa"]:
            category = int(qa.get("category", 0))
            if category not in CATEGORIES:
                continue
            evidence = {
                f"D{m.group(1)}:{m.group(2)}" for e in qa.get("evidence", []) for m in EVIDENCE_RE.finditer(e)
            }
            evidence &= known
            if evidence:
                conv.questions.append(Question(qa["question"], category, evidence))
        out.append(conv)
    return out


def write_dump(conv: Conversation, directory: Path) -> None:
    """The conversation in ReMe's dump format: ``<workspace>.jsonl``."""
    lines = []
    for turn in conv.turns:
        record = {
            "workspace_id": conv.workspace,
            "memory_id": conv.memory_id(turn.dia_id),
            "memory_type": "personal",
            "when_to_use": turn.text,
            "content": turn.content,
            "target": turn.speaker,
            "score": 0,
            "time_created": turn.when,
            "time_modified": turn.when,
            "author": "locomo",
            "metadata": {"dia_id": turn.dia_id},
        }
        lines.append(json.dumps(record))
    (directory / f"{conv.workspace}.jsonl").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# Scoring


class Tally:
    """Recall any/all at each k, overall and by category."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str, int], list[bool]] = defaultdict(list)

    def add(self, question: Question, ranked: list[str], ranked_20: list[str] | None = None) -> None:
        """``ranked_20``: the answer to a top_k=20 request, for @20 (else ``ranked`` serves all)."""
        for k in KS:
            source = ranked_20 if k == 20 and ranked_20 is not None else ranked
            found = question.evidence & set(source[:k])
            for group in ("all", CATEGORIES[question.category]):
                self.hits[(group, "any", k)].append(bool(found))
                self.hits[(group, "all", k)].append(found == question.evidence)

    def summary(self) -> dict[str, dict[str, float]]:
        groups = ["all", *CATEGORIES.values()]
        out: dict[str, dict[str, float]] = {}
        for group in groups:
            row: dict[str, float] = {"n": float(len(self.hits.get((group, "any", KS[0]), [])))}
            for k in KS:
                for kind in ("any", "all"):
                    values = self.hits.get((group, kind, k), [])
                    row[f"{kind}@{k}"] = round(sum(values) / len(values), 3) if values else 0.0
            out[group] = row
        return out


def bm25_scores(docs: list[list[str]], query: list[str]) -> np.ndarray:
    n = len(docs)
    lengths = np.asarray([len(d) for d in docs], dtype=float)
    average = lengths.mean()
    frequency = Counter(w for d in docs for w in set(d))
    counts = [Counter(d) for d in docs]
    scores = np.zeros(n)
    for word in set(query):
        df = frequency.get(word, 0)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = np.asarray([c.get(word, 0) for c in counts], dtype=float)
        scores += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths / average))
    return scores


def ranking(scores: np.ndarray) -> list[int]:
    # Stable: ties keep turn order.
    return list(np.argsort(-scores, kind="stable"))


def rrf(*orders: list[int]) -> list[int]:
    fused: dict[int, float] = defaultdict(float)
    for order in orders:
        for rank, index in enumerate(order, start=1):
            fused[index] += 1.0 / (RRF_K + rank)
    return sorted(fused, key=lambda i: (-fused[i], i))


def baselines(conversations: list[Conversation]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    import asyncio

    from app.providers.embeddings import LocalEmbedder
    from app.settings import EmbeddingSettings

    model = LocalEmbedder(EmbeddingSettings(provider="local"))
    tallies = {"cosine": Tally(), "bm25": Tally(), "rrf(cosine, bm25)": Tally()}
    for conv in conversations:
        texts = [t.content for t in conv.turns]
        ids = [t.dia_id for t in conv.turns]
        docs = np.asarray(asyncio.run(model.embed(texts)), dtype=np.float32)
        queries = np.asarray(asyncio.run(model.embed([q.text for q in conv.questions])), dtype=np.float32)
        words = [WORD_RE.findall(text.lower()) for text in texts]
        for question, vector in zip(conv.questions, queries, strict=True):
            by_cosine = ranking(docs @ vector)
            by_bm25 = ranking(bm25_scores(words, WORD_RE.findall(question.text.lower())))
            for name, order in (
                ("cosine", by_cosine),
                ("bm25", by_bm25),
                ("rrf(cosine, bm25)", rrf(by_cosine, by_bm25)),
            ):
                tallies[name].add(question, [ids[i] for i in order[: max(KS)]])
        log(f"baselines: {conv.workspace} done")
    return {name: tally.summary() for name, tally in tallies.items()}


# ---------------------------------------------------------------------------------------------
# The service


def start_service(workdir: Path) -> Process:
    """This service on a fresh embedded database: the bundled MiniLM, no chat model."""
    port = free_port()
    env = {k: v for k, v in clean_env().items() if not k.startswith("OPENAI")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "REME_DATA_DIR": str(workdir / "ours-data"),
            "REME_EMBEDDING__PROVIDER": "local",
            "REME_STORAGE__ALLOWED_DIR": str(workdir),
            "REME_LOG_LEVEL": "WARNING",
            # Every route asks the same questions: without this, the routes after the first would
            # find the query vectors cached and their latency would leave out the embedding.
            "REME_EMBEDDING__QUERY_CACHE_SIZE": "0",
        }
    )
    argv = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process = spawn("ours", argv, env=env, cwd=workdir, log_dir=workdir)
    process.port = port  # type: ignore[attr-defined]
    wait_http(f"http://127.0.0.1:{port}/health", process, timeout=300)
    return process


def load(client: httpx.Client, conversations: list[Conversation], files: Path) -> None:
    for conv in conversations:
        write_dump(conv, files)
        started = time.perf_counter()
        response = client.post(
            "/vector_store", json={"workspace_id": conv.workspace, "action": "load", "path": str(files)}
        )
        response.raise_for_status()
        log(f"loaded {conv.workspace}: {len(conv.turns)} turns in {time.perf_counter() - started:.1f}s")


def ask(client: httpx.Client, route: str, workspace: str, question: str, top_k: int) -> list[dict[str, Any]]:
    """The memories one route returns, best first."""
    if route == "personal":
        body = {"workspace_id": workspace, "query": question, "top_k": top_k}
        response = client.post("/retrieve_personal_memory", json=body)
        response.raise_for_status()
        return list(response.json()["metadata"]["memory_list"])
    mode = route.removeprefix("v1-")
    body = {"query": question, "top_k": top_k, "mode": mode, "memory_type": "personal"}
    response = client.post(f"/v1/workspaces/{workspace}/search", json=body)
    response.raise_for_status()
    return list(response.json()["items"])


def service_recall(client: httpx.Client, conversations: list[Conversation], route: str) -> dict[str, Any]:
    tally = Tally()
    timings: list[float] = []
    for conv in conversations:
        by_memory = {conv.memory_id(t.dia_id): t.dia_id for t in conv.turns}
        for question in conv.questions:
            answers: dict[int, list[str]] = {}
            for top_k in (10, 20):
                started = time.perf_counter()
                memories = ask(client, route, conv.workspace, question.text, top_k)
                elapsed = time.perf_counter() - started
                answers[top_k] = [by_memory.get(m["memory_id"], "") for m in memories]
                if top_k == 10:
                    timings.append(elapsed)
            # @5 and @10 from the top_k=10 answer, @20 from the top_k=20 one.
            tally.add(question, answers[10], answers[20])
        log(f"service: {conv.workspace} done")
    return {"recall": tally.summary(), "latency_top_k_10": latency_summary(timings)}


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    head = "| method | any@5 | any@10 | all@10 | any@20 | all@20 |\n|---|---|---|---|---|---|\n"
    rows = []
    for name, summary in results.items():
        r = summary["all"]
        rows.append(
            f"| {name} | {r['any@5']} | {r['any@10']} | {r['all@10']} | {r['any@20']} | {r['all@20']} |"
        )
    return head + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="LoCoMo-format JSON (locomo10.json)")
    parser.add_argument("--url", default=None, help="use this running service instead of starting one")
    parser.add_argument("--no-load", action="store_true", help="the workspaces are already loaded (--url)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the exact baselines")
    parser.add_argument("--workdir", type=Path, default=None, help="work directory (a file dir for --url)")
    parser.add_argument("--label", default="service", help="name of the service rows")
    parser.add_argument(
        "--routes",
        default="personal",
        help="comma-separated: personal (retrieve_personal_memory), v1-vector, v1-text, v1-hybrid",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = parser.parse_args()

    conversations = read_dataset(args.dataset)
    log(f"{len(conversations)} conversations, {sum(len(c.questions) for c in conversations)} questions")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reme-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    files = workdir / "files"
    files.mkdir(exist_ok=True)
    process = None
    try:
        if args.url is None:
            process = start_service(workdir)
            url = f"http://127.0.0.1:{process.port}"  # type: ignore[attr-defined]
        else:
            url = args.url
        with httpx.Client(base_url=url, timeout=120) as client:
            if not args.no_load:
                load(client, conversations, files)
            service = {
                route: service_recall(client, conversations, route) for route in args.routes.split(",")
            }
    finally:
        if process is not None:
            process.stop()
        for dump in files.glob("*.jsonl"):
            dump.unlink()
    results: dict[str, Any] = {"service": service, "label": args.label}
    summaries = {f"{args.label} {route}": out["recall"] for route, out in service.items()}
    if not args.no_baselines:
        results["baselines"] = baselines(conversations)
        summaries.update(results["baselines"])
    results["questions"] = sum(len(c.questions) for c in conversations)
    results["memories"] = {c.workspace: len(c.turns) for c in conversations}
    results["machine"] = machine_info()
    print(table(summaries))
    for route, out in service.items():
        print(route, json.dumps({"by_category": out["recall"], "latency": out["latency_top_k_10"]}, indent=1))
    if args.out:
        write_results("quality", results, args.out)


if __name__ == "__main__":
    main()
