"""The chat model: one structured-output call per pipeline step, validated by pydantic.

Every call asks the server for JSON that matches the step's pydantic model (``json_schema``
response format, or the schema written into the system prompt in ``json_object`` mode). Output
that does not validate is sent back once with the validation error; if the second answer is
still invalid the step fails with :class:`LLMUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import msgspec
import openai
from pydantic import BaseModel, ValidationError

from app.errors import LLMTimeout, LLMUnavailable
from app.observability import metrics, tracing
from app.settings import LLMSettings

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_SCHEMA_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
# How much of an invalid answer is echoed back to the model when asking it to try again.
_ECHO_LIMIT = 4000


@dataclass
class TokenUsage:
    """Tokens spent on chat calls, summed over the calls of one request or job."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: TokenUsage) -> None:
        """Add another tally into this one."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "calls": self.calls,
        }


class InvalidModelOutput(ValueError):
    """The answer could not be read as one JSON object matching the step's model."""


class LLMClient:
    """An OpenAI-compatible chat model with bounded concurrency and structured output."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._secret = settings.api_key.get_secret_value() if settings.api_key else ""
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=self._secret or "none",
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)

    async def structured(
        self,
        messages: list[dict[str, Any]],
        output: type[T],
        *,
        step: str,
        usage: TokenUsage | None = None,
    ) -> T:
        """Ask the model for an answer shaped like ``output`` and return it validated.

        ``step`` names the pipeline step in logs and errors. Invalid output is retried once.
        """
        conversation = list(messages)
        response_format = _response_format(output, self.settings.structured_output)
        if self.settings.structured_output == "json_object":
            conversation = _with_schema_in_system_prompt(conversation, _schema_text(output))
        content = await self._complete(conversation, response_format, step=step, usage=usage)
        try:
            return parse_model_output(content, output)
        except InvalidModelOutput as first_error:
            logger.info("llm step=%s gave invalid output, retrying: %s", step, first_error)
            conversation += [
                {"role": "assistant", "content": content[:_ECHO_LIMIT]},
                {
                    "role": "user",
                    "content": (
                        f"That answer was not valid: {first_error}. Reply again with only one "
                        "JSON object that matches the required schema, and no other text."
                    ),
                },
            ]
        content = await self._complete(conversation, response_format, step=step, usage=usage)
        try:
            return parse_model_output(content, output)
        except InvalidModelOutput as second_error:
            raise LLMUnavailable(
                f"chat model failed at step {step}: model output was not valid after one retry "
                f"({second_error})"
            ) from None

    async def chat(
        self, messages: list[dict[str, Any]], *, step: str, usage: TokenUsage | None = None
    ) -> str:
        """A free-text answer to ``messages`` (no output schema), for flows that talk to the user."""
        return await self._complete(list(messages), None, step=step, usage=usage)

    async def close(self) -> None:
        await self._client.close()

    async def _complete(
        self,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
        *,
        step: str,
        usage: TokenUsage | None,
    ) -> str:
        """One chat completion; returns the answer's text and counts its tokens."""
        started = time.perf_counter()
        model = self.settings.model
        # The messages and response format travel in extra_body, which the client sends as
        # given (its typed transform walks every message), and the answer is read raw, not
        # as the client's pydantic objects: together with the cached schema, 3.1 -> 1.6 ms of
        # our CPU per call against benchmarks/embed_server.py with a 9 KB trajectory.
        body: dict[str, Any] = {"messages": messages}
        if response_format is not None:
            body["response_format"] = response_format
        async with self._semaphore:
            try:
                with tracing.span(f"chat {step}", {"gen_ai.request.model": model, "reme.step": step}) as span:
                    raw = await self._client.chat.completions.with_raw_response.create(
                        model=model, messages=[], temperature=self.settings.temperature, extra_body=body
                    )
                    answer = self._read_answer(raw.content, step)
                    tracing.set_attributes(span, usage_attributes(answer))
            except openai.APITimeoutError:
                metrics.record_llm_error(step, model, "timeout")
                raise LLMTimeout(
                    f"chat model timed out at step {step} after {self.settings.timeout:g}s"
                ) from None
            except openai.APIStatusError as exc:
                metrics.record_llm_error(step, model, f"http_{exc.status_code}")
                raise LLMUnavailable(
                    f"chat model failed at step {step}: HTTP {exc.status_code} "
                    f"{self._redact(_error_text(exc))}"
                ) from None
            except openai.APIConnectionError:
                metrics.record_llm_error(step, model, "connection")
                raise LLMUnavailable(
                    f"chat model failed at step {step}: could not connect to "
                    f"{self.settings.base_url or 'the default OpenAI endpoint'}"
                ) from None
            except openai.OpenAIError as exc:
                metrics.record_llm_error(step, model, type(exc).__name__)
                raise LLMUnavailable(
                    f"chat model failed at step {step}: {type(exc).__name__}: {self._redact(str(exc))[:300]}"
                ) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        prompt_tokens = answer.usage.prompt_tokens if answer.usage else 0
        completion_tokens = answer.usage.completion_tokens if answer.usage else 0
        metrics.record_llm_call(step, model, elapsed_ms / 1000, prompt_tokens, completion_tokens)
        if usage is not None:
            usage.add(TokenUsage(prompt_tokens, completion_tokens, 1))
        logger.debug(
            "llm step=%s model=%s ms=%.0f prompt_tokens=%d completion_tokens=%d",
            step,
            self.settings.model,
            elapsed_ms,
            prompt_tokens,
            completion_tokens,
        )
        if not answer.choices:
            return ""
        return answer.choices[0].message.content or ""

    def _read_answer(self, body: bytes, step: str) -> _ChatAnswer:
        try:
            return _CHAT_ANSWER.decode(body)
        except msgspec.DecodeError as exc:
            metrics.record_llm_error(step, self.settings.model, "malformed")
            raise LLMUnavailable(
                f"chat model failed at step {step}: malformed response: {self._redact(str(exc))[:200]}"
            ) from None

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _ChatAnswer(msgspec.Struct):
    """The parts of a chat completion that are read; the rest of the body is skipped."""

    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: _Usage | None = None


_CHAT_ANSWER = msgspec.json.Decoder(_ChatAnswer)


def usage_attributes(response: Any) -> dict[str, int]:
    """A chat answer's token counts, as span attributes."""
    if not response.usage:
        return {}
    return {
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": response.usage.completion_tokens,
    }


def parse_model_output(content: str, output: type[T]) -> T:
    """Read one JSON object out of a model's answer and validate it as ``output``.

    Tolerates reasoning blocks, Markdown code fences and prose around the object.
    """
    data = _extract_json_object(content)
    try:
        return output.model_validate(data)
    except ValidationError as exc:
        raise InvalidModelOutput(_describe_validation_error(exc)) from None


def _extract_json_object(content: str) -> dict[str, Any]:
    text = _THINK.sub("", content).strip()
    candidates = [match.group(1).strip() for match in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(value, dict):
                return value
            start = candidate.find("{", start + 1)
    preview = text[:80].replace("\n", " ")
    raise InvalidModelOutput(f"no JSON object found in the answer (it began {preview!r})")


def _describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        problems.append(f"{location}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "; ".join(problems) + suffix


@cache
def _response_format(output: type[BaseModel], mode: str) -> dict[str, Any]:
    """The request's ``response_format`` for ``output``, built once per output class.

    Callers must not change it: every request of the class shares it.
    """
    if mode == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": _schema_name(output), "schema": output.model_json_schema(), "strict": False},
    }


@cache
def _schema_text(output: type[BaseModel]) -> str:
    return json.dumps(output.model_json_schema(), ensure_ascii=False)


def _with_schema_in_system_prompt(messages: list[dict[str, Any]], schema: str) -> list[dict[str, Any]]:
    """Write the JSON schema into the system prompt, for servers without schema support."""
    instruction = (
        "Answer with one JSON object only, with no text before or after it. "
        "It must match this JSON schema:\n" + schema
    )
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first.get('content') or ''}\n\n{instruction}".strip()
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _schema_name(output: type[BaseModel]) -> str:
    return _SCHEMA_NAME_UNSAFE.sub("_", output.__name__)[:64] or "output"


def _error_text(exc: openai.APIStatusError) -> str:
    """The server's own error message, kept short."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return f"({str(message)[:200]})"
    return ""
