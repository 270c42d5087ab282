"""Every table, re-exported so Alembic and callers see one metadata."""

from app.models.api_key import KEY_SCOPES, ApiKey
from app.models.base import Base
from app.models.job import JOB_STATUSES, Job
from app.models.memory import MEMORY_TYPES, Memory, MemoryEvent, ValidationRecord
from app.models.setting import EMBEDDING_DIM_KEY, EMBEDDING_MODEL_KEY, ReMeSetting
from app.models.tool_call import ToolCall
from app.models.trajectory import TRAJECTORY_STATUSES, Trajectory
from app.models.workspace import WORKSPACE_ID_JSON_PATTERN, Workspace, workspace_id_problem

__all__ = [
    "EMBEDDING_DIM_KEY",
    "EMBEDDING_MODEL_KEY",
    "JOB_STATUSES",
    "KEY_SCOPES",
    "MEMORY_TYPES",
    "TRAJECTORY_STATUSES",
    "WORKSPACE_ID_JSON_PATTERN",
    "ApiKey",
    "Base",
    "Job",
    "Memory",
    "MemoryEvent",
    "ReMeSetting",
    "ToolCall",
    "Trajectory",
    "ValidationRecord",
    "Workspace",
    "workspace_id_problem",
]
