"""Service settings: one pydantic-settings class with nested groups.

Environment variables use the ``REME_`` prefix and ``__`` between a group and its field
(``REME_LLM__MODEL``). ReMe's ``FLOW_*`` variables are honoured as aliases when the
``REME_`` form is not given. Environment wins over ``.env``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2-int8"
LOCAL_EMBEDDING_DIM = 384
DEFAULT_OPENAI_EMBEDDING_DIM = 1024

# ReMe's environment variables and the nested field each one feeds.
FLOW_ALIASES: dict[str, tuple[str, str]] = {
    "FLOW_LLM_API_KEY": ("llm", "api_key"),
    "FLOW_LLM_BASE_URL": ("llm", "base_url"),
    "FLOW_EMBEDDING_API_KEY": ("embedding", "api_key"),
    "FLOW_EMBEDDING_BASE_URL": ("embedding", "base_url"),
}


def default_data_dir() -> Path:
    """Where the embedded database lives when ``REME_DATA_DIR`` is not set.

    As root, the embedded server runs PostgreSQL as a separate system user and opens the
    permissions of every parent of the data directory; ``/var/lib`` is already traversable,
    so nothing under ``/root`` is touched.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/reme")
    return Path(platformdirs.user_data_dir("reme"))


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat model. Without ``base_url`` or ``api_key`` no LLM is configured."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "qwen3-30b-a3b-instruct-2507"
    timeout: float = 60.0
    max_retries: int = 1
    max_concurrency: int = 8
    temperature: float = 0.0
    # "json_schema" asks the server to enforce the schema; "json_object" puts it in the prompt.
    structured_output: Literal["json_schema", "json_object"] = "json_schema"

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)

    def describe(self) -> str:
        """The chat model, for start-up lines and ``reme status``."""
        if not self.configured:
            return "none: summary flows answer 503 (set REME_LLM__BASE_URL and REME_LLM__API_KEY)"
        return f"{self.model} at {self.base_url or 'the OpenAI API'}"


class EmbeddingSettings(BaseModel):
    """Embeddings: the bundled local model, or an OpenAI-compatible API."""

    provider: Literal["local", "openai"] | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    dim: int | None = Field(default=None, ge=1, le=16000)
    batch_size: int = Field(default=64, ge=1, le=2048)
    timeout: float = 30.0
    max_retries: int = 2
    # Query vectors kept (least recently used out) so that a repeated query skips the model; 0: none.
    query_cache_size: int = Field(default=1024, ge=0, le=1_000_000)

    @property
    def resolved_provider(self) -> Literal["local", "openai"]:
        if self.provider:
            return self.provider
        return "openai" if self.base_url else "local"

    @property
    def resolved_model(self) -> str:
        if self.model:
            return self.model
        return LOCAL_EMBEDDING_MODEL if self.resolved_provider == "local" else "text-embedding-v4"

    @property
    def resolved_dim(self) -> int:
        if self.resolved_provider == "local":
            return LOCAL_EMBEDDING_DIM if self.dim is None else self.dim
        return self.dim or DEFAULT_OPENAI_EMBEDDING_DIM

    def describe(self) -> str:
        """The embedding model, for start-up lines and ``reme status``."""
        where = "local" if self.resolved_provider == "local" else f"at {self.base_url or 'the OpenAI API'}"
        return f"{self.resolved_model} ({self.resolved_dim} dims, {where})"


class AuthSettings(BaseModel):
    enabled: bool = False


class StorageSettings(BaseModel):
    # dump/load paths must resolve inside this directory (None: the server's working directory).
    allowed_dir: Path | None = None

    def resolved_allowed_dir(self) -> Path:
        return (self.allowed_dir or Path.cwd()).resolve()


class LoadSettings(BaseModel):
    """Bulk loads (`vector_store` load, `/v1` import, `reme load`) and the vector index."""

    # A load of at least this many memories that is at least this share of the table after it,
    # into a table of at most this many rows, drops the vector index and has it built after
    # the commit (0 disables it): building a graph is much cheaper than growing it row by row.
    # Half by default: the drop holds every workspace's searches until the load commits, and
    # searches rank exactly (slower) until the build is done, so only loads at least as large as
    # what is stored (first loads, restores) pay that; smaller ones grow the graph row by row.
    index_rebuild_min_rows: int = Field(default=1000, ge=1)
    index_rebuild_min_share: float = Field(default=0.5, ge=0.0, le=1.0)
    index_rebuild_max_rows: int = Field(default=2_000_000, ge=0)
    # Seconds the server waits after a load before building (loads often come in a row).
    index_rebuild_delay_seconds: float = Field(default=1.0, ge=0.0)
    # maintenance_work_mem and parallel workers of that build (the graph should fit in memory).
    index_build_memory_mb: int = Field(default=1024, ge=64)
    index_build_workers: int = Field(default=2, ge=0, le=64)


class LimitSettings(BaseModel):
    max_body_bytes: int = 16 * 1024 * 1024
    max_trajectories: int = 100
    max_messages: int = 1000
    max_message_chars: int = 200_000
    max_top_k: int = 200
    max_import_line_bytes: int = 1024 * 1024
    # Seconds a synchronous summary may hold its trajectories; past it (the process died) the
    # worker marks them failed (interrupted) so they can be retried.
    summary_lease_seconds: float = Field(default=1800.0, gt=0)
    # How often `reme serve` / `reme mcp` themselves look for such stranded trajectories (a
    # deployment without `reme worker` still recovers them).
    stranded_sweep_seconds: float = Field(default=60.0, gt=0)


class TaskMemorySettings(BaseModel):
    success_threshold: float = 1.0
    validation_min_score: float = 0.5
    dedup_similarity: float = 0.92
    retrieve_mode: Literal["vector", "hybrid"] = "vector"
    rerank: bool = False
    rewrite: bool = False
    # Experiences kept from one extraction call, and candidates judged in one judge call.
    max_experiences_per_call: int = Field(default=5, ge=1, le=20)
    # Characters of a trajectory shown to the model (head and tail kept when longer).
    prompt_trajectory_chars: int = Field(default=24_000, ge=1_000)
    # With rerank on, the search fetches this many times top_k for the model to order.
    rerank_pool_factor: int = Field(default=3, ge=1, le=10)
    # Defaults of delete_task_memory when the request gives no thresholds.
    delete_freq_threshold: int = Field(default=5, ge=1)
    delete_utility_threshold: float = Field(default=0.5, ge=0.0)


class PersonalMemorySettings(BaseModel):
    info_score_threshold: float = 0.5
    reconcile_neighbours: int = 5
    profile_min_observations: int = 5
    # Per-subject insight memories, rewritten when a user's facts change (one more LLM call).
    profile: bool = True
    # How many of a user's most recent facts the profile step reads.
    profile_max_observations: int = Field(default=60, ge=1, le=500)
    # Added to an insight's fused rank score at retrieval (one RRF step is about 0.0003).
    insight_bonus: float = 0.005
    rerank: bool = False


class ToolMemorySettings(BaseModel):
    keep_last: int = 100
    judge_concurrency: int = 4
    # Calls shown to the model when it writes a tool's guideline.
    summary_recent_calls: int = Field(default=30, ge=1, le=1000)
    # Statistics (success rate, average score, time and tokens) cover this many latest calls.
    statistics_window: int = Field(default=100, ge=1, le=100_000)
    max_calls_per_request: int = Field(default=500, ge=1)
    # A call's input and output are cut to this many characters in prompts.
    prompt_field_chars: int = Field(default=2000, ge=100)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8002
    pool_size: int = 10
    max_overflow: int = 10
    # Seconds a client has to send a request's headers, and at most between two body chunks.
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=10.0, gt=0)
    # Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: int = Field(default=5, ge=1)
    # Open connections past this are closed at once (the descriptor limit is raised to fit).
    max_connections: int = Field(default=1000, ge=1)
    # Server processes sharing the port (`reme serve --workers`); "auto": one per core.
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = 1
    # The event loop: "auto" is uvloop where it is installed (a dependency on Linux and macOS).
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"


class MetricsSettings(BaseModel):
    """``GET /metrics`` (Prometheus text format)."""

    enabled: bool = True
    # A bearer token for scrapers; when set, /metrics needs it (or, with auth on, an admin key).
    token: SecretStr | None = None
    # Gauges read from the database (memories per type, jobs per status) are re-read at most this often.
    refresh_seconds: float = Field(default=15.0, ge=0)


class LogSettings(BaseModel):
    # "json": one JSON object per line (request id, workspace, flow, status, duration).
    format: Literal["text", "json"] = "text"
    # SQL statements slower than this are logged with their duration and shape (0: never).
    slow_statement_ms: float = Field(default=500.0, ge=0)


class DatabaseSettings(BaseModel):
    """Where reads may go, and whether the schema is laid out for Citus."""

    # A streaming replica for retrieval, search and listings; writes stay on REME_DATABASE_URL.
    read_url: str | None = None
    # auto: distribute the tables when the citus extension is installed; on: require it; off: never.
    citus: Literal["auto", "on", "off"] = "auto"
    # A pooled connection idle longer than this (seconds) is pinged before use; 0: before every use.
    ping_after_idle: float = Field(default=1.0, ge=0)
    # shared_buffers of the embedded server (MB), applied when it starts; None: an eighth of the
    # machine's memory within [128, 2048] (app.embedded.default_shared_buffers_mb).
    embedded_shared_buffers_mb: int | None = Field(default=None, ge=16, le=1_048_576)


class Settings(BaseSettings):
    """All settings of the service; build with :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="REME_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "INFO"
    migrate_on_start: bool = True

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    llm: LLMSettings = LLMSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    limits: LimitSettings = LimitSettings()
    load: LoadSettings = LoadSettings()
    task: TaskMemorySettings = TaskMemorySettings()
    personal: PersonalMemorySettings = PersonalMemorySettings()
    tool: ToolMemorySettings = ToolMemorySettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="before")
    @classmethod
    def _apply_flow_aliases(cls, data: Any) -> Any:
        """Fill a nested field from ReMe's ``FLOW_*`` variable when it is not set otherwise."""
        if not isinstance(data, dict):
            return data
        for env_name, (group, field) in FLOW_ALIASES.items():
            value = os.environ.get(env_name)
            if not value:
                continue
            section = data.get(group)
            if isinstance(section, BaseModel):
                section = section.model_dump()
            section = dict(section or {})
            section.setdefault(field, value)
            data[group] = section
        return data

    @property
    def embedded(self) -> bool:
        return not self.database_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and ``.env``."""
    return Settings()
